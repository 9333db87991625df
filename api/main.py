from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from langchain_core.language_models import BaseChatModel

from api.failures import DATABASE_ERRORS
from api.resources import open_resources
from api.routes import chat, health
from api.settings import Settings, get_settings

logger = logging.getLogger("chat_server")


async def _database_unavailable(_request: Request, error: Exception) -> JSONResponse:
    logger.warning("database unavailable: %s", error)
    return JSONResponse({"detail": "the database is unavailable; try again shortly"}, 503)


def create_app(
    settings: Settings | None = None, *, chat_model: BaseChatModel | None = None
) -> FastAPI:
    """The chat service. Tests pass their own settings and chat model."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with open_resources(settings or get_settings(), chat_model) as resources:
            yield {"resources": resources}

    app = FastAPI(
        title="chat-server",
        summary="LLM chat with memory in PostgreSQL, streamed token by token.",
        lifespan=lifespan,
    )
    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
    app.include_router(chat.router)
    app.include_router(health.router)
    return app
