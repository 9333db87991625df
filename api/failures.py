from __future__ import annotations

from dataclasses import dataclass

import psycopg
import psycopg_pool

from graph.model import MODEL_FAILURES, MODEL_TIMEOUTS

DATABASE_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


@dataclass(frozen=True)
class Failure:
    """Why a turn failed, as the client is told: an HTTP status and a message."""

    status: int
    message: str


def classify(error: BaseException) -> Failure:
    if isinstance(error, MODEL_TIMEOUTS):
        return Failure(504, "the model did not answer in time")
    if isinstance(error, MODEL_FAILURES):
        return Failure(502, f"the model failed: {type(error).__name__}")
    if isinstance(error, DATABASE_ERRORS):
        return Failure(503, "the database is unavailable; try again shortly")
    return Failure(500, "internal error")
