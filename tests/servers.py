from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any chat-server settings, plus `settings`."""
    ours = ("OPENAI_", "DATABASE_", "API_KEYS", "ON_DISCONNECT", "SYSTEM_PROMPT")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {**env, **settings}


@dataclass
class ServerProcess:
    url: str
    process: asyncio.subprocess.Process
    log: str = ""


@asynccontextmanager
async def chat_server_process(
    cwd: Path, env: dict[str, str], *args: str
) -> AsyncIterator[ServerProcess]:
    """`chat-server` as a user starts it, until it is ready; stopped with Ctrl-C at the end."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        CHAT_SERVER, "--port", str(port), *args, cwd=cwd, env=env, stderr=asyncio.subprocess.PIPE
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", process)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            async with asyncio.timeout(120):
                while not await _ready(http):
                    if process.returncode is not None:
                        raise RuntimeError("chat-server exited before it was ready")
                    await asyncio.sleep(0.1)
        yield server
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
        server.log = stderr.decode()


async def _ready(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/readyz")).status_code == 200
    except httpx.TransportError:
        return False
