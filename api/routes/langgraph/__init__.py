"""The LangGraph Server API over the same sessions: what LangGraph Studio, the LangGraph SDKs,
RemoteGraph and Agent Chat UI call. A thread is a session; a run is a turn.

Its reference is langgraph-api's own `openapi.json`, so these routes stay out of this server's.
"""

from fastapi import APIRouter, Depends

from api.auth import get_owner
from api.routes.langgraph import assistants, meta, runs, threads

router = APIRouter(tags=["langgraph"], include_in_schema=False)
router.include_router(meta.router)
router.include_router(assistants.router, dependencies=[Depends(get_owner)])
router.include_router(threads.router, dependencies=[Depends(get_owner)])
router.include_router(runs.router, dependencies=[Depends(get_owner)])

__all__ = ["router"]
