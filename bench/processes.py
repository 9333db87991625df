"""The processes the benchmark serves on 127.0.0.1: the model stub, the chat servers, the floor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import procfs
from bench.installs import ROOT, Install
from bench.postgres import backend_pids
from devtools.ports import free_port
from devtools.processes import NotReady, block_until
from devtools.processes import server_environment as environment

HOST = "127.0.0.1"
PYTHON = sys.executable
START_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 40.0
# The statement that ends a chat-server process's schema preparation, as PostgreSQL shows it
# (api/store/schema.py; the same since the first commit).
SCHEMA_UNLOCK = "SELECT pg_advisory_unlock($1)"


class StartError(RuntimeError):
    """A process did not come up; the message ends with the tail of its log."""


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Service:
    """A process the benchmark started, with the port it serves on."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        return procfs.process_tree(self.process.pid)

    def cpu_seconds(self) -> float:
        return procfs.cpu_seconds(self.pids())

    def peak_rss_bytes(self) -> list[int]:
        """VmHWM of the process and of each of its children (a supervisor and its workers)."""
        return [procfs.peak_rss_bytes(pid) for pid in self.pids()]

    def fail(self, why: str) -> StartError:
        return StartError(
            f"{self.name}: {why}; its log ({self.log_path}) ends with:\n{_log_tail(self.log_path)}"
        )

    def wait_until(self, ready: Callable[[], bool]) -> None:
        try:
            block_until(ready, exit_status=self.process.poll, timeout=START_TIMEOUT_SECONDS)
        except NotReady as error:
            raise self.fail(str(error)) from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                # It leads a session of its own: this ends it and its workers, nothing else.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@contextmanager
def service(
    name: str, command: list[str], env: dict[str, str], workdir: Path, port: int
) -> Iterator[Service]:
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = Service(name, process, port, log_path)
    try:
        yield started
    finally:
        started.stop()


def _answers(url: str) -> bool:
    httpx.get(url, timeout=2.0)
    return True


@contextmanager
def openai_stub(workdir: Path) -> Iterator[Service]:
    """bench/stub.py, shaped by `bench.stub.reshape` before each load."""
    port = free_port()
    command = [PYTHON, "-m", "bench.stub", "--port", str(port)]
    with service(f"stub-{port}", command, environment(), workdir, port) as stub:
        stub.wait_until(lambda: _answers(f"{stub.url}/"))
        yield stub


@contextmanager
def chat_server(
    install: Install,
    workdir: Path,
    *,
    stub_url: str,
    database_url: str,
    workers: int,
    pool_size: int,
    backends: Callable[[], list[int]],
    settings: dict[str, str] | None = None,
) -> Iterator[Service]:
    """`chat-server --workers N`; ready once every worker has prepared the schema and /readyz
    answers.

    `backends` lists the server processes of the connections to the server's database. A worker
    opens its pool, prepares the schema under an advisory lock (one worker at a time), and
    serves once it has let the lock go: each new connection whose latest statement was
    SCHEMA_UNLOCK is a worker done with the schema.
    """
    port = free_port()
    env = environment(
        OPENAI_BASE_URL=f"{stub_url}/v1",
        OPENAI_API_KEY="bench",
        OPENAI_MODEL="bench-stub",
        DATABASE_URL=database_url,
        DB_POOL_MIN_SIZE="2",
        DB_POOL_MAX_SIZE=str(pool_size),
        LOG_LEVEL="warning",
        **(settings or {}),
    )
    command = [install.chat_server, "--host", HOST, "--port", str(port), "--workers", str(workers)]
    before = set(backends())
    name = f"{install.role}-w{workers}-{port}"
    with service(name, command, env, workdir, port) as server:
        # Kept once seen: the connection's next statement (a request's) replaces it.
        prepared: set[int] = set()

        def ready() -> bool:
            prepared.update(set(backend_pids(database_url, last_query=SCHEMA_UNLOCK)) - before)
            if len(prepared) < workers:
                return False
            return httpx.get(f"{server.url}/readyz", timeout=2.0).status_code == 200

        server.wait_until(ready)
        yield server


@contextmanager
def floor_server(
    install: Install, workdir: Path, *, stub_url: str, workers: int
) -> Iterator[Service]:
    """bench/floor.py under uvicorn, in the chat server's environment; ready once each worker
    has answered."""
    port = free_port()
    env = environment(BENCH_FLOOR_STUB_URL=stub_url, PYTHONPATH=str(ROOT))
    command = [install.python, "-m", "bench.floor", "--port", str(port), "--workers", str(workers)]
    with service(f"floor-w{workers}-{port}", command, env, workdir, port) as floor:
        seen: set[str] = set()

        def ready() -> bool:
            # A new connection each time, so every worker gets a chance to accept one.
            seen.add(httpx.get(f"{floor.url}/pid", timeout=2.0).text)
            return len(seen) >= workers

        floor.wait_until(ready)
        yield floor
