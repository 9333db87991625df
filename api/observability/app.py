"""`add_observability(app)`: request ids, the access log, the metrics and the shutdown flush."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api.observability.access import AccessLog
from api.observability.metrics import (
    Metrics,
    forget_dead_processes,
    retire_this_process,
    sampling_pool,
)
from api.observability.request_id import add_request_ids
from api.observability.tracing import flush_traces


def add_observability(app: FastAPI) -> None:
    metrics = Metrics()
    app.state.metrics = metrics
    app.add_middleware(AccessLog, metrics=metrics)
    # Added last, so outermost: the access line is written with the request id set.
    add_request_ids(app)
    _observe_lifespan(app, metrics)


def _observe_lifespan(app: FastAPI, metrics: Metrics) -> None:
    """Around the app's lifespan: the pool's figures sampled while it serves, then, once its
    turns are drained, the traces sent and this process's gauges withdrawn."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Mapping[str, Any]]:
        forget_dead_processes()
        try:
            async with inner(app_) as state:
                assert state is not None
                async with sampling_pool(state["resources"].pool, metrics):
                    yield state
        finally:
            await flush_traces()
            retire_this_process()

    app.router.lifespan_context = lifespan
