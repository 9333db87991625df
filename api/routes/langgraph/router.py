"""The LangGraph Server API's routes under one router, each behind the caller's key (the
thread's WebSocket checks its key itself: a browser may send it in the URL or a first frame)."""

from fastapi import APIRouter, Depends

from api.auth import get_owner
from api.routes.langgraph import (
    assistants,
    commands,
    meta,
    runs,
    stream_events,
    stream_socket,
    threads,
)

router = APIRouter(tags=["langgraph"], include_in_schema=False)
router.include_router(meta.router)
router.include_router(assistants.router, dependencies=[Depends(get_owner)])
router.include_router(threads.router, dependencies=[Depends(get_owner)])
router.include_router(runs.router, dependencies=[Depends(get_owner)])
router.include_router(commands.router, dependencies=[Depends(get_owner)])
router.include_router(stream_events.router, dependencies=[Depends(get_owner)])
router.include_router(stream_socket.router)
