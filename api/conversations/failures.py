"""What can go wrong with a conversation, in the words its user is told."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import openai
import psycopg
import psycopg_pool

from api.store.errors import NO_SUCH_SESSION, SessionBusy, SessionNotFound
from api.store.turn_save import RunClosed, TurnOvertaken

DATABASE_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)
MODEL_TIMEOUTS: tuple[type[Exception], ...] = (openai.APITimeoutError, httpx.TimeoutException)

DATABASE_UNAVAILABLE = "the database is unavailable; try again shortly"
SESSION_BUSY = "the session is busy with another turn; try again"
TURN_CANCELLED = "the turn was cancelled before it ended"
RUN_LOST = (
    "the server running this turn stopped before it ended: nothing of it was stored; send the "
    "message again"
)
RUN_CLOSED = "the run was cancelled before it was saved: nothing of it was stored"
TURN_OVERTAKEN = (
    "another turn of this session was saved while this one ran: nothing of this one was "
    "stored; send the message again"
)


@dataclass(frozen=True)
class Failure:
    """Why a turn failed, as the client is told: an HTTP status and a message."""

    status: int
    message: str


class TurnRefused(Exception):
    """A turn that failed before its response began, answered with its failure's status."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class RunNotOpen(Exception):
    """A run asked to stop has ended already."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the run has ended already ({status}): there is nothing to cancel")


class RunStillOpen(Exception):
    """A run asked to be deleted has not ended."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the run is {status}: cancel it, or wait for its end, first")


class UnknownCheckpoint(Exception):
    """A turn asked to run from a checkpoint its session does not have."""

    def __init__(self, checkpoint_id: str) -> None:
        super().__init__(
            f"checkpoint {checkpoint_id} is not in this thread's history: read its history for "
            "the checkpoints a run may start from"
        )


class NothingToRun(Exception):
    """A run without input from a checkpoint where nothing is left to run."""

    def __init__(self, checkpoint_id: str | None) -> None:
        where = f"checkpoint {checkpoint_id}" if checkpoint_id else "the thread's latest state"
        super().__init__(
            f"nothing to run from {where}: no step of it is left to run; send a message, or "
            "start from a checkpoint whose next step is the model"
        )


class MessageIdTaken(Exception):
    """A turn's input message carries the id of a message already in the conversation."""

    def __init__(self, message_ids: list[str]) -> None:
        super().__init__(
            f"message id {', '.join(message_ids)} is in the conversation already: a run adds "
            "messages and never replaces one (leave the id out, or give a new one)"
        )


# A turn that ends with one of these never ran: the metrics count it as rejected.
REFUSALS: tuple[type[Exception], ...] = (
    SessionNotFound,
    SessionBusy,
    UnknownCheckpoint,
    NothingToRun,
    MessageIdTaken,
)


def refusal(error: Exception) -> Failure:
    """The failure the client of a refused turn (one of REFUSALS) is told."""
    if isinstance(error, SessionNotFound):
        return Failure(404, NO_SUCH_SESSION)
    if isinstance(error, SessionBusy):
        return Failure(409, SESSION_BUSY)
    if isinstance(error, UnknownCheckpoint):
        return Failure(404, str(error))
    if isinstance(error, NothingToRun):
        return Failure(422, str(error))
    return Failure(409, str(error))


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
    if isinstance(error, TurnOvertaken):
        return Failure(409, TURN_OVERTAKEN)
    if isinstance(error, RunClosed):
        return Failure(409, RUN_CLOSED if error.status == "interrupted" else RUN_LOST)
    if isinstance(error, DATABASE_ERRORS):
        return Failure(503, DATABASE_UNAVAILABLE)
    return Failure(500, "internal error")
