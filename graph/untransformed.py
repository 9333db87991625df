"""The chat messages handed to the OpenAI SDK as they are, past its request transform.

`AsyncCompletions.create` walks every request through a transform driven by its type hints
before it sends it, at a cost that grows with the number of messages (openai-python issue
and pull request #3616): about a sixth of a short turn's CPU here. For the message dicts that
ChatOpenAI builds it changes nothing in the bytes sent. The SDK's public `extra_body` is merged
into the request after that transform, so the messages go there, and `create` gets none.
`tests/test_openai_model.py` checks that the request the model server receives is the same
either way; `OPENAI_UNTRANSFORMED_MESSAGES=false` turns this off.
"""

from __future__ import annotations

from typing import Any


class UntransformedMessages:
    """Stands in for ChatOpenAI's `async_client` (the SDK's `chat.completions`)."""

    def __init__(self, completions: Any) -> None:
        self._completions = completions

    async def create(self, *, messages: Any, extra_body: Any = None, **kwargs: Any) -> Any:
        body = {**(extra_body or {}), "messages": messages}
        return await self._completions.create(messages=[], extra_body=body, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Every other call (with_raw_response, parse, ...) takes the SDK's usual path.
        return getattr(self._completions, name)
