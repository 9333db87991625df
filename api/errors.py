"""The HTTP answers to the conversation service's exceptions: one handler for each."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.conversations import SessionNotFound
from api.conversations.failures import DATABASE_ERRORS, DATABASE_UNAVAILABLE

logger = logging.getLogger("chat_server")


async def _session_not_found(_request: Request, _error: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(_error)}, 404)


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", error)
    return JSONResponse({"detail": DATABASE_UNAVAILABLE}, 503)


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SessionNotFound, _session_not_found)
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
