"""Prometheus metrics, summed over every worker process of `chat-server --workers N`.

Each app has its own registry. When PROMETHEUS_MULTIPROC_DIR is set (the CLI sets it for more
than one worker), every process also writes its values to files there, and a scrape answered by
any worker reads them all: prometheus-client's multiprocess mode.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from psycopg_pool import AsyncConnectionPool

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
OUTCOMES = (
    "completed",
    "failed_before_first_token",
    "failed_mid_reply",
    "cancelled",
    "rejected",
)
# How often each process writes its pool's figures, which a scrape may read from any process.
POOL_SAMPLE_SECONDS = 1.0

# A streamed reply's request lasts as long as the reply: the buckets reach minutes.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_FIRST_TOKEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
_TURN_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
_LOCK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)


class Metrics:
    """The server's metrics; see the README's Operations section for what each one means."""

    def __init__(self) -> None:
        # Multiprocess mode has no `_created` series: none in one process either, for one shape.
        disable_created_metrics()
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "chat_http_requests",
            "HTTP requests answered, by method, route template and status code",
            ["method", "route", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "chat_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response (a whole streamed reply)",
            ["method", "route"],
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
        self.turns = Counter(
            "chat_turns", "Turns ended, by outcome", ["outcome"], registry=registry
        )
        self.first_token_seconds = Histogram(
            "chat_time_to_first_token_seconds",
            "Time from a turn's start (lock wait included) to the reply's first token",
            buckets=_FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.turn_seconds = Histogram(
            "chat_turn_duration_seconds",
            "Time from a turn's start to its end, by outcome (rejected turns not counted)",
            ["outcome"],
            buckets=_TURN_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "chat_tokens_streamed", "Reply tokens streamed from the model", registry=registry
        )
        self.streams = Gauge(
            "chat_streams_in_progress",
            "Turns running now: waiting for their session's lock or streaming a reply",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.model_errors = Counter(
            "chat_model_errors",
            "Failed model calls, by kind: timeout, connection, or http_<status>",
            ["kind"],
            registry=registry,
        )
        self.lock_wait_seconds = Histogram(
            "chat_session_lock_wait_seconds",
            "Time a turn waited for its session's lock (another turn of the session running)",
            buckets=_LOCK_BUCKETS,
            registry=registry,
        )
        self.lock_connections_lost = Counter(
            "chat_lock_connection_lost",
            "Connections holding a process's session locks that the database closed",
            registry=registry,
        )
        self.session_locks_lost = Counter(
            "chat_session_locks_lost",
            "Session locks held by running turns that went with a lost lock connection",
            registry=registry,
        )
        self.pool_size = self._pool_gauge("size", "Connections open in the database pools")
        self.pool_max = self._pool_gauge("max_size", "Largest size the database pools may reach")
        self.pool_in_use = self._pool_gauge("in_use", "Pooled connections lent out right now")
        self.pool_waiting = self._pool_gauge(
            "waiting", "Requests waiting for a pooled connection right now"
        )
        for outcome in OUTCOMES:
            self.turns.labels(outcome)

    def _pool_gauge(self, name: str, documentation: str) -> Gauge:
        return Gauge(
            f"chat_db_pool_{name}",
            f"{documentation} (summed over the server's processes)",
            multiprocess_mode="livesum",
            registry=self.registry,
        )

    def lock_connection_lost(self, sessions: int) -> None:
        """The lock connection was lost, with the locks of `sessions` sessions."""
        self.lock_connections_lost.inc()
        self.session_locks_lost.inc(sessions)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format: every process's, in multiprocess mode."""
        if directory := os.environ.get(MULTIPROC_DIR):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def sample_pool(self, pool: AsyncConnectionPool) -> None:
        stats = pool.get_stats()
        self.pool_size.set(stats["pool_size"])
        self.pool_max.set(stats["pool_max"])
        self.pool_in_use.set(stats["pool_size"] - stats["pool_available"])
        self.pool_waiting.set(stats.get("requests_waiting", 0))


@asynccontextmanager
async def sampling_pool(pool: AsyncConnectionPool, metrics: Metrics) -> AsyncIterator[None]:
    """Writes the pool's figures into `metrics` every POOL_SAMPLE_SECONDS while in the block."""

    async def sample() -> None:
        while True:
            metrics.sample_pool(pool)
            await asyncio.sleep(POOL_SAMPLE_SECONDS)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextmanager
def shared_directory(workers: int) -> Iterator[None]:
    """Multiprocess mode for `workers` processes: PROMETHEUS_MULTIPROC_DIR as given (emptied
    first), or else, for more than one worker, a new directory removed at the end.

    Call it before the workers start: prometheus-client reads the variable when imported.
    """
    given = os.environ.get(MULTIPROC_DIR)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        # Values left by an earlier run would be added to this one's.
        for file in path.glob("*.db"):
            file.unlink()
        yield
        return
    if workers == 1:
        yield
        return
    directory = tempfile.mkdtemp(prefix="chat-server-metrics-")
    os.environ[MULTIPROC_DIR] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROC_DIR]
        shutil.rmtree(directory, ignore_errors=True)


def forget_dead_processes() -> None:
    """Drops the gauges of processes that are gone (uvicorn replaces a dead worker)."""
    if not (directory := os.environ.get(MULTIPROC_DIR)):
        return
    for file in Path(directory).glob("gauge_live*_*.db"):
        pid = int(file.stem.rsplit("_", 1)[1])
        if not _alive(pid):
            multiprocess.mark_process_dead(pid, directory)


def retire_this_process() -> None:
    """Drops this process's gauges from what the other processes report."""
    if directory := os.environ.get(MULTIPROC_DIR):
        multiprocess.mark_process_dead(os.getpid(), directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
