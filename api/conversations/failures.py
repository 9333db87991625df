"""What can go wrong with a conversation, in the words its user is told."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import openai
import psycopg
import psycopg_pool

DATABASE_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)
MODEL_TIMEOUTS: tuple[type[Exception], ...] = (openai.APITimeoutError, httpx.TimeoutException)

DATABASE_UNAVAILABLE = "the database is unavailable; try again shortly"


@dataclass(frozen=True)
class Failure:
    """Why a turn failed, as the client is told: an HTTP status and a message."""

    status: int
    message: str


def model_error_kind(error: BaseException) -> str | None:
    """`timeout`, `connection` or `http_<status>` for a failed model call; None for the rest."""
    if isinstance(error, MODEL_TIMEOUTS):
        return "timeout"
    if isinstance(error, openai.APIStatusError):
        return f"http_{error.status_code}"
    if isinstance(error, openai.APIError | httpx.HTTPError):
        return "connection"
    return None


def _model_failure(error: BaseException) -> Failure | None:
    kind = model_error_kind(error)
    if kind is None:
        return None
    if kind == "timeout":
        return Failure(504, "the model did not answer in time")
    if kind == "connection":
        return Failure(502, "the connection to the model server failed")
    return Failure(502, f"the model server answered HTTP {kind.removeprefix('http_')}")


def classify(error: BaseException) -> Failure:
    if failure := _model_failure(error):
        return failure
    if isinstance(error, DATABASE_ERRORS):
        return Failure(503, DATABASE_UNAVAILABLE)
    return Failure(500, "internal error")
