from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from langchain_core.language_models import BaseChatModel

from api.cors import add_cors
from api.errors import add_error_handlers
from api.observability.app import add_observability
from api.observability.endpoint import metrics_router
from api.origins import refuse_cross_site
from api.resources import open_resources
from api.routes import chat, health, page
from api.routes.langgraph.router import router as langgraph_router
from api.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None, *, chat_model: BaseChatModel | None = None
) -> FastAPI:
    """The chat service. Tests pass their own settings and chat model."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with (
            observability.running(),
            open_resources(
                settings, chat_model, on_lock_loss=observability.lock_connection_lost
            ) as resources,
            observability.watching(resources.pool),
        ):
            yield {"resources": resources}

    app = FastAPI(
        title="chat-server",
        summary="LLM chat with memory in PostgreSQL, streamed token by token.",
        lifespan=lifespan,
    )
    add_error_handlers(app)
    app.include_router(chat.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.include_router(langgraph_router)
    app.include_router(metrics_router(public=settings.metrics_public))
    add_cors(app, settings.cors_origins)
    refuse_cross_site(app, settings.cors_origins)
    # Last, so that its middleware sees every request, preflights too.
    observability = add_observability(app)
    return app
