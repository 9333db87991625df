from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
    ours += ("LOG_", "METRICS_", "LANGSMITH_", "LANGCHAIN_", "PROMETHEUS_MULTIPROC_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {**env, **settings}


@dataclass
class ServerProcess:
    url: str
    process: asyncio.subprocess.Process
    # Everything it wrote to stderr (read as it comes, so a full pipe never stalls it).
    output: bytearray = field(default_factory=bytearray)

    @property
    def log(self) -> str:
        return self.output.decode()


@asynccontextmanager
async def chat_server_process(
    cwd: Path, env: dict[str, str], *args: str, command: Sequence[str] = (CHAT_SERVER,)
) -> AsyncIterator[ServerProcess]:
    """`chat-server` as a user starts it, until it is ready; stopped with Ctrl-C at the end
    unless it has exited by then. `command`: another `chat-server` (and what runs it)."""
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *command, "--port", str(port), *args, cwd=cwd, env=env, stderr=asyncio.subprocess.PIPE
    )
    server = ServerProcess(f"http://127.0.0.1:{port}", process)

    async def read_stderr() -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            server.output += chunk

    reading = asyncio.create_task(read_stderr())
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
        await asyncio.wait_for(process.wait(), timeout=60)
        await reading


async def _ready(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/readyz")).status_code == 200
    except httpx.TransportError:
        return False
