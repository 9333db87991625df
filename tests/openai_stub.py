"""A small OpenAI-compatible chat completions server that streams like the real one.

Tests start it in-process; `python -m tests.openai_stub --port 9100` serves it for a manual try.
Its replies come from `tests.replies.reply_to`, so they show what the model was sent.
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

from tests.replies import reply_to, tokens


@dataclass
class StubBehaviour:
    token_delay: float = 0.0
    reply: str | None = None  # a fixed reply instead of `reply_to(...)`
    requests: list[dict[str, Any]] = field(default_factory=list)


def _chunk(completion_id: str, model: str, delta: dict[str, Any], **extra: Any) -> bytes:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None, **extra}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


def create_stub(behaviour: StubBehaviour) -> Starlette:
    async def completions(request: Request) -> Response:
        payload = await request.json()
        behaviour.requests.append(payload)
        model = payload.get("model", "stub")
        user_messages = [m["content"] for m in payload["messages"] if m["role"] == "user"]
        text = behaviour.reply if behaviour.reply is not None else reply_to(user_messages)
        completion_id = f"chatcmpl-{uuid4().hex}"
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
            yield _chunk(completion_id, model, {"role": "assistant", "content": ""})
            for token in tokens(text):
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
    args = parser.parse_args()
    app = create_stub(StubBehaviour(token_delay=args.delay))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
