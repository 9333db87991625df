from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ResourcesDep

router = APIRouter(tags=["health"])
logger = logging.getLogger("chat_server.health")

# How long /readyz waits for a pooled connection before it calls the database unavailable.
READINESS_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The database does not answer"}})
async def readyz(resources: ResourcesDep) -> JSONResponse:
    """The database answers."""
    try:
        async with resources.pool.connection(timeout=READINESS_TIMEOUT_SECONDS) as conn:
            await conn.execute("SELECT 1")
    except Exception as error:
        logger.warning("readiness check failed: %s", error)
        return JSONResponse(
            {"status": "unavailable", "detail": "the database does not answer"}, 503
        )
    return JSONResponse({"status": "ok"})
