"""Chat completions sent and streamed back as plain JSON, through the OpenAI SDK's documented
path for custom requests (`client.post(path, body=..., cast_to=object)`).

`AsyncCompletions.create` walks every request through a transform driven by its type hints,
at a cost that grows with the number of messages (openai-python issue and pull request
#3616), and builds a pydantic model of every streamed chunk, which ChatOpenAI turns straight
back into a dict (`chunk.model_dump()`). For the plain dicts ChatOpenAI sends, the transform
changes nothing in the bytes sent, and ChatOpenAI reads dict chunks as they are. Here the
request goes out as ChatOpenAI built it, over the same client (its retries, timeouts,
headers and errors), and the chunks come back as the dicts parsed from the stream.
`tests/http/test_openai_model.py` checks that the request the model server receives and the reply
are the same either way; `OPENAI_UNTRANSFORMED_MESSAGES=false` turns this off.
"""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI, AsyncStream, NotGiven, Omit

# What `create` takes as options of the request rather than fields of its body, by the names of
# the SDK's `RequestOptions`.
_OPTIONS = {
    "extra_headers": "headers",
    "extra_query": "params",
    "extra_body": "extra_json",
    "timeout": "timeout",
}


class UntransformedMessages:
    """Stands in for ChatOpenAI's `async_client` (the SDK's `chat.completions`)."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client
        self._completions = client.chat.completions

    async def create(self, **params: Any) -> Any:
        given = {k: v for k, v in params.items() if not isinstance(v, NotGiven | Omit)}
        options = {
            _OPTIONS[k]: value
            for k in list(given)
            if k in _OPTIONS and (value := given.pop(k)) is not None
        }
        # `options` holds keys of the SDK's RequestOptions, which it exports from no public module.
        return await self._client.post(  # type: ignore[call-overload]
            "/chat/completions",
            body=given,
            cast_to=object,
            options=options,
            stream=bool(given.get("stream")),
            stream_cls=AsyncStream[object],
        )

    def __getattr__(self, name: str) -> Any:
        # Every other call (with_raw_response, parse, ...) takes the SDK's usual path.
        return getattr(self._completions, name)
