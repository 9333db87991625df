"""The one assistant, of the one graph; and the empty store LangGraph Studio looks at."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api.deps import ConversationsDep
from api.routes.langgraph.requests import AnyBody, AssistantSearchBody
from api.routes.langgraph.responses import ASSISTANT_ID, GRAPH_ID, JSON, assistant

router = APIRouter()
_STARTED = datetime.now(UTC)


def check_assistant(assistant_id: str) -> None:
    """A 404 unless `assistant_id` names the one assistant (or its graph)."""
    if assistant_id not in (ASSISTANT_ID, GRAPH_ID):
        raise HTTPException(404, f"no such assistant: this server runs one, {GRAPH_ID!r}")


@router.post("/assistants/search")
async def search_assistants(body: AssistantSearchBody) -> JSON:
    ours = assistant(_STARTED)
    matches = (
        body.graph_id in (None, GRAPH_ID)
        and body.name in (None, GRAPH_ID)
        and body.metadata.items() <= ours["metadata"].items()
        and body.offset == 0
    )
    return JSON([ours] if matches else [], headers={"X-Pagination-Total": str(int(matches))})


@router.get("/assistants/{assistant_id}")
async def get_assistant(assistant_id: str) -> JSON:
    check_assistant(assistant_id)
    return JSON(assistant(_STARTED))


@router.get("/assistants/{assistant_id}/graph")
async def get_graph(
    assistant_id: str,
    conversations: ConversationsDep,
    xray: Annotated[bool | int, Query(description="Subgraph depth, or true for all")] = False,
) -> JSON:
    check_assistant(assistant_id)
    if not isinstance(xray, bool) and xray <= 0:
        raise HTTPException(422, "invalid xray value: true, false or a positive depth")
    return JSON(conversations.graph_drawing(xray))


@router.get("/assistants/{assistant_id}/schemas")
async def get_schemas(assistant_id: str, conversations: ConversationsDep) -> JSON:
    check_assistant(assistant_id)
    graph = conversations.graph_schemas()
    schemas = {
        "graph_id": GRAPH_ID,
        "input_schema": graph.input,
        "output_schema": graph.output,
        "state_schema": graph.output,
        "config_schema": {},
        "context_schema": graph.context,
    }
    return JSON({key: value for key, value in schemas.items() if value is not None})


@router.get("/assistants/{assistant_id}/subgraphs")
async def get_subgraphs(assistant_id: str) -> JSON:
    check_assistant(assistant_id)
    return JSON({})


# LangGraph Studio lists the store's namespaces: this server keeps no store.
@router.post("/store/namespaces")
async def store_namespaces(_body: AnyBody) -> JSON:
    return JSON({"namespaces": []})


@router.post("/store/items/search")
async def store_items(_body: AnyBody) -> JSON:
    empty: list[Any] = []
    return JSON({"items": empty})
