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


def _known(assistant_id: str) -> None:
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
    _known(assistant_id)
    return JSON(assistant(_STARTED))


@router.get("/assistants/{assistant_id}/graph")
async def get_graph(
    assistant_id: str,
    conversations: ConversationsDep,
    xray: Annotated[bool | int, Query(description="Subgraph depth, or true for all")] = False,
) -> JSON:
    _known(assistant_id)
    if not isinstance(xray, bool) and xray <= 0:
        raise HTTPException(422, "invalid xray value: true, false or a positive depth")
    return JSON(conversations.graph.get_graph(xray=xray).to_json())


@router.get("/assistants/{assistant_id}/schemas")
async def get_schemas(assistant_id: str, conversations: ConversationsDep) -> JSON:
    _known(assistant_id)
    graph = conversations.graph
    schemas = {
        "graph_id": GRAPH_ID,
        "input_schema": graph.get_input_jsonschema(),
        "output_schema": graph.get_output_jsonschema(),
        "state_schema": graph.get_output_jsonschema(),
        "config_schema": {},
        "context_schema": graph.get_context_jsonschema(),
    }
    return JSON({key: value for key, value in schemas.items() if value is not None})


@router.get("/assistants/{assistant_id}/subgraphs")
async def get_subgraphs(assistant_id: str) -> JSON:
    _known(assistant_id)
    return JSON({})


# LangGraph Studio lists the store's namespaces: this server keeps no store.
@router.post("/store/namespaces")
async def store_namespaces(_body: AnyBody) -> JSON:
    return JSON({"namespaces": []})


@router.post("/store/items/search")
async def store_items(_body: AnyBody) -> JSON:
    empty: list[Any] = []
    return JSON({"items": empty})
