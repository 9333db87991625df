"""A small OpenAI-compatible chat completions server that streams like the real one.

Tests start it in-process, the benchmark through `bench.stub`, and
`python -m devtools.openai_stub --port 9100` serves it for a manual try (the README's quickstart).
Its replies come from `devtools.replies.reply_to`, so they show what the model was sent, unless
`--reply-tokens N` asks for a fixed reply of N word tokens (as the benchmark does).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from devtools.replies import reply_to, tokens


@dataclass
class StubBehaviour:
    token_delay: float = 0.0
    reply: str | None = None  # a fixed reply instead of `reply_to(...)`
    fail_status: int | None = None  # answer every request with this HTTP error
    stall_seconds: float = 0.0  # wait this long before the first token
    cut_after_tokens: int | None = None  # break the connection after this many tokens
    requests: list[dict[str, Any]] = field(default_factory=list)
    record_requests: bool = True  # a long benchmark run keeps no history of requests


_WORDS = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()


def fixed_reply(token_count: int) -> str:
    """A reply of exactly `token_count` word tokens (about 5.5 characters each)."""
    return " ".join(_WORDS[i % len(_WORDS)] for i in range(token_count))


def _chunk(completion_id: str, model: str, delta: dict[str, Any], **extra: Any) -> bytes:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None, **extra}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def _text(content: str | list[dict[str, Any]]) -> str:
    """A message's text, whether it came as a string or as content blocks."""
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if block.get("type") == "text")


def create_stub(behaviour: StubBehaviour) -> Starlette:
    async def completions(request: Request) -> Response:
        payload = await request.json()
        if behaviour.record_requests:
            behaviour.requests.append(payload)
        model = payload.get("model", "stub")
        user_messages = [_text(m["content"]) for m in payload["messages"] if m["role"] == "user"]
        text = behaviour.reply if behaviour.reply is not None else reply_to(user_messages)
        completion_id = f"chatcmpl-{uuid4().hex}"
        if behaviour.fail_status is not None:
            error = {"message": "the stub was told to fail", "type": "server_error", "code": None}
            return JSONResponse({"error": error}, behaviour.fail_status)
        if not payload.get("stream"):
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                }
            )

        async def stream() -> AsyncIterator[bytes]:
            if behaviour.stall_seconds:
                await asyncio.sleep(behaviour.stall_seconds)
            yield _chunk(completion_id, model, {"role": "assistant", "content": ""})
            for index, token in enumerate(tokens(text)):
                if index == behaviour.cut_after_tokens:
                    raise ConnectionAbortedError("the stub was told to break the connection")
                if behaviour.token_delay:
                    await asyncio.sleep(behaviour.token_delay)
                yield _chunk(completion_id, model, {"content": token})
            yield _chunk(completion_id, model, {}, finish_reason="stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between tokens")
    parser.add_argument(
        "--reply-tokens",
        type=int,
        default=None,
        metavar="N",
        help="reply to everything with the same N word tokens (default: an echo of the message)",
    )
    args = parser.parse_args()
    behaviour = StubBehaviour(
        token_delay=args.delay,
        reply=None if args.reply_tokens is None else fixed_reply(args.reply_tokens),
        record_requests=False,
    )
    app = create_stub(behaviour)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
