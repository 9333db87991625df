from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from devtools.ports import free_port
from devtools.processes import ServerProcess, server_process


@asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Runs `app` in a real uvicorn server on a free port of 127.0.0.1; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            # uvicorn logs why, then exits: a test should fail, not stop the run.
            raise RuntimeError("the server failed to start (see its log above)")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


CHAT_SERVER = str(Path(sys.executable).parent / "chat-server")


@asynccontextmanager
async def chat_server_process(
    cwd: Path, env: dict[str, str], *args: str, command: Sequence[str] = (CHAT_SERVER,)
) -> AsyncIterator[ServerProcess]:
    """`chat-server` as a user starts it, until it is ready; stopped with Ctrl-C at the end
    unless it has exited by then. `command`: another `chat-server` (and what runs it)."""
    port = free_port()
    async with server_process(
        [*command, "--port", str(port), *args],
        port=port,
        ready_path="/readyz",
        cwd=cwd,
        env=env,
    ) as server:
        yield server


@asynccontextmanager
async def two_chat_servers(
    cwd: Path, env: dict[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two `chat-server` processes on the same database, and a client of each."""
    async with (
        chat_server_process(cwd, env) as first,
        chat_server_process(cwd, env) as second,
        httpx.AsyncClient(base_url=first.url, timeout=60) as one,
        httpx.AsyncClient(base_url=second.url, timeout=60) as two,
    ):
        yield one, two
