"""What a client is told when a turn fails: the status and words `classify` gives each error, as
the model client, the HTTP client and the database driver raise it."""

from __future__ import annotations

import httpx
import openai
import psycopg
import psycopg_pool
import pytest

from api.conversations.failures import Failure, classify, model_error_kind

_REQUEST = httpx.Request("POST", "http://model.test/v1/chat/completions")


def _answered(status: int, error: type[openai.APIStatusError]) -> openai.APIStatusError:
    response = httpx.Response(status, request=_REQUEST, json={"error": {"message": "no"}})
    return error(f"Error code: {status}", response=response, body={"message": "no"})


NOT_IN_TIME = Failure(504, "the model did not answer in time")
UNREACHABLE = Failure(502, "the connection to the model server failed")
INTERNAL = Failure(500, "internal error")
UNAVAILABLE = Failure(503, "the database is unavailable; try again shortly")

CASES: list[tuple[BaseException, str | None, Failure]] = [
    # A timeout is a connection error to openai: it must still read as a timeout.
    (openai.APITimeoutError(request=_REQUEST), "timeout", NOT_IN_TIME),
    (httpx.ReadTimeout("timed out", request=_REQUEST), "timeout", NOT_IN_TIME),
    (httpx.ConnectTimeout("timed out", request=_REQUEST), "timeout", NOT_IN_TIME),
    (httpx.PoolTimeout("no connection free", request=_REQUEST), "timeout", NOT_IN_TIME),
    (openai.APIConnectionError(request=_REQUEST), "connection", UNREACHABLE),
    (httpx.ConnectError("connection refused", request=_REQUEST), "connection", UNREACHABLE),
    (httpx.RemoteProtocolError("peer closed", request=_REQUEST), "connection", UNREACHABLE),
    (
        _answered(429, openai.RateLimitError),
        "http_429",
        Failure(502, "the model server answered HTTP 429"),
    ),
    (
        _answered(401, openai.AuthenticationError),
        "http_401",
        Failure(502, "the model server answered HTTP 401"),
    ),
    (
        _answered(500, openai.InternalServerError),
        "http_500",
        Failure(502, "the model server answered HTTP 500"),
    ),
    (
        _answered(504, openai.APIStatusError),
        "http_504",
        Failure(502, "the model server answered HTTP 504"),
    ),
    # The database's own words (a host name, a user name) never reach the client.
    (
        psycopg.OperationalError('connection to server at "db.internal" failed'),
        None,
        UNAVAILABLE,
    ),
    (
        psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
        None,
        UNAVAILABLE,
    ),
    (
        psycopg_pool.PoolTimeout("couldn't get a connection after 10.00 sec"),
        None,
        UNAVAILABLE,
    ),
    # A statement the database refuses is this server's bug, not an outage.
    (psycopg.errors.UniqueViolation("duplicate key value"), None, INTERNAL),
    (psycopg.errors.UndefinedTable('relation "checkpoints" does not exist'), None, INTERNAL),
    (ValueError("secret detail"), None, INTERNAL),
    (KeyError("messages"), None, INTERNAL),
]


@pytest.mark.parametrize(
    ("error", "kind", "failure"), CASES, ids=[type(error).__name__ for error, _, _ in CASES]
)
def test_each_error_is_told_as_its_kind(
    error: BaseException, kind: str | None, failure: Failure
) -> None:
    assert model_error_kind(error) == kind
    assert classify(error) == failure
