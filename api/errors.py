"""The HTTP answers to the conversation service's exceptions: one handler for each."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.conversations import SessionNotFound, TurnRefused
from api.conversations.failures import DATABASE_ERRORS, DATABASE_UNAVAILABLE
from api.store.pool import DatabaseUnreachable

logger = logging.getLogger("chat_server")


async def _session_not_found(_request: Request, error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, 404)


async def _turn_refused(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TurnRefused)
    return JSONResponse({"detail": error.failure.message}, error.failure.status)


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    # The pool has said once that the database is unreachable: each request need not again.
    level = logging.INFO if isinstance(error, DatabaseUnreachable) else logging.WARNING
    logger.log(level, "database unavailable: %s", error)
    return JSONResponse({"detail": DATABASE_UNAVAILABLE}, 503)


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SessionNotFound, _session_not_found)
    app.add_exception_handler(TurnRefused, _turn_refused)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
