"""The floor: the least a server can do for a turn, to measure the chat server against.

A FastAPI app with the chat server's endpoints that relays the model stub's stream as the same
Server-Sent Events, with httpx, and keeps nothing: no graph, no database, no history.

It streams with the same HTTP client as the chat server's model: the OpenAI SDK's httpx2, a fork
of httpx. With httpx itself, whose connection pool walks (and probes) every connection for each
request it places, the relay spent most of its time there at 100 sessions and was no floor.

    python -m bench.floor --port 8100 --workers 1    (the stub's URL in BENCH_FLOOR_STUB_URL)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

try:
    import httpx2 as httpx
except ImportError:  # an OpenAI SDK that still uses httpx
    import httpx  # type: ignore[no-redef]

STUB_URL_VARIABLE = "BENCH_FLOOR_STUB_URL"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _event(name: str, **data: str) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _relay(model: httpx.AsyncClient, message: str) -> AsyncIterator[bytes]:
    payload: dict[str, Any] = {
        "model": "bench-stub",
        "stream": True,
        "messages": [{"role": "user", "content": message}],
    }
    completion_id = ""
    async with model.stream("POST", "/v1/chat/completions", json=payload) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            completion_id = chunk["id"]
            if content := chunk["choices"][0]["delta"].get("content"):
                yield _event("token", content=content)
    yield _event("end", message_id=completion_id)


def create_floor_app() -> FastAPI:
    stub_url = os.environ[STUB_URL_VARIABLE]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
        # The limits of the OpenAI client that the chat server's model uses.
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        async with httpx.AsyncClient(base_url=stub_url, limits=limits, timeout=60) as model:
            yield {"model": model}

    app = FastAPI(title="bench floor", lifespan=lifespan)

    @app.post("/chat")
    async def create_session() -> PlainTextResponse:
        return PlainTextResponse(f"{uuid4()}\n", 201)

    @app.post("/chat/{session_id}")
    async def send_message(session_id: UUID, request: Request) -> StreamingResponse:
        message = (await request.body()).decode()
        return StreamingResponse(
            _relay(request.state.model, message),
            media_type="text/event-stream",
            headers=STREAM_HEADERS,
        )

    @app.get("/pid")
    async def pid() -> PlainTextResponse:
        return PlainTextResponse(str(os.getpid()))

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        "bench.floor:create_floor_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
