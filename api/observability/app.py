"""`add_observability(app)`: request ids, the access log, the metrics and the shutdown flush."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from api.observability.access import AccessLog
from api.observability.metrics import (
    Metrics,
    forget_dead_processes,
    retire_this_process,
    sampling_pool,
)
from api.observability.request_id import add_request_ids
from api.observability.tracing import flush_traces


class Observability:
    """What the app's lifespan runs inside: `running()` around everything, `watching(pool)`
    once the pool is open."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Around the app's lifespan: once its turns are drained, the traces are sent and this
        process's gauges withdrawn."""
        forget_dead_processes()
        try:
            yield
        finally:
            await flush_traces()
            retire_this_process()

    def watching(self, pool: AsyncConnectionPool[Any]) -> AbstractAsyncContextManager[None]:
        """The pool's figures sampled into the metrics while in the block."""
        return sampling_pool(pool, self._metrics)

    def lock_connection_lost(self, sessions: int) -> None:
        """What the session locks say when their connection is lost."""
        self._metrics.lock_connection_lost(sessions)


def add_observability(app: FastAPI) -> Observability:
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(AccessLog, metrics=metrics)
    # Added last, so outermost: the access line is written with the request id set.
    add_request_ids(app)
    return Observability(metrics)
