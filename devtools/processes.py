"""Processes started for a test or a benchmark: their environment, and the wait until they are
ready."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

# All that a started process inherits from the caller's environment. An allow-list rather than a
# deny-list of the server's settings: a deny-list has to name every setting the server reads and
# falls behind when one is added (the tests' let DB_POOL_*, MAX_CONTEXT_TOKENS and
# SHUTDOWN_GRACE_SECONDS through), and it lets through an HTTP proxy that would carry the
# loopback traffic elsewhere.
INHERITED = ("PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR")
INHERITED_PREFIXES = ("LC_", "PG")


def server_environment(**settings: str) -> dict[str, str]:
    """The caller's locale, paths and libpq variables, and `settings`: nothing else."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }
    return {**env, **settings}


class NotReady(RuntimeError):
    """A process exited, or was still not ready when its time was up."""


async def wait_until(
    ready: Callable[[], Awaitable[bool]],
    *,
    exit_status: Callable[[], int | None],
    timeout: float,
    interval: float = 0.1,
) -> None:
    """Asks `ready` every `interval` seconds until it holds; an HTTP or socket error counts as
    not yet. Raises NotReady once `exit_status` gives one, or after `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if (status := exit_status()) is not None:
                    raise NotReady(f"exited with status {status} before it was ready")
                try:
                    if await ready():
                        return
                except (httpx.HTTPError, OSError):
                    pass
                await asyncio.sleep(interval)
    except TimeoutError:
        raise NotReady(f"not ready after {timeout:.0f} s") from None


def block_until(
    ready: Callable[[], bool],
    *,
    exit_status: Callable[[], int | None],
    timeout: float,
    interval: float = 0.1,
) -> None:
    """`wait_until` for a caller without an event loop, and a `ready` that blocks."""

    async def check() -> bool:
        return ready()

    asyncio.run(wait_until(check, exit_status=exit_status, timeout=timeout, interval=interval))


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
async def server_process(
    command: Sequence[str],
    *,
    port: int,
    ready_path: str,
    cwd: Path,
    env: Mapping[str, str],
    stop_signal: signal.Signals = signal.SIGINT,
    timeout: float = 120.0,
) -> AsyncIterator[ServerProcess]:
    """`command`, which serves on 127.0.0.1:`port`, once `ready_path` answers 200 there; sent
    `stop_signal` at the end unless it has exited by then."""
    url = f"http://127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stderr=asyncio.subprocess.PIPE
    )
    server = ServerProcess(url, process)

    async def read_stderr() -> None:
        assert process.stderr is not None
        while chunk := await process.stderr.read(65536):
            server.output += chunk

    reading = asyncio.create_task(read_stderr())
    try:
        async with httpx.AsyncClient(base_url=url) as http:

            async def ready() -> bool:
                return (await http.get(ready_path)).status_code == 200

            try:
                await wait_until(ready, exit_status=lambda: process.returncode, timeout=timeout)
            except NotReady as error:
                raise NotReady(f"{command[0]}: {error}") from None
        yield server
    finally:
        if process.returncode is None:
            process.send_signal(stop_signal)
        await asyncio.wait_for(process.wait(), timeout=60)
        await reading
