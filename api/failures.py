from __future__ import annotations

from dataclasses import dataclass

import psycopg
import psycopg_pool

from graph.model import MODEL_TIMEOUTS, describe_model_error

DATABASE_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


@dataclass(frozen=True)
class Failure:
    """Why a turn failed, as the client is told: an HTTP status and a message."""

    status: int
    message: str


def classify(error: BaseException) -> Failure:
    if model_error := describe_model_error(error):
        return Failure(504 if isinstance(error, MODEL_TIMEOUTS) else 502, model_error)
    if isinstance(error, DATABASE_ERRORS):
        return Failure(503, "the database is unavailable; try again shortly")
    return Failure(500, "internal error")
