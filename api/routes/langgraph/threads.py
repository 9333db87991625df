"""Threads: the sessions, whichever door they came in by, and their states."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Response
from langgraph.errors import InvalidUpdateError
from langgraph.types import StateSnapshot

from api.auth import OwnerDep
from api.conversations import (
    Conversations,
    Session,
    SessionNotFound,
    SessionQuery,
    SortKey,
    UnknownCheckpoint,
)
from api.deps import ConversationsDep
from api.routes.langgraph.requests import (
    CheckpointRef,
    HistoryQuery,
    HistoryQueryBody,
    StateAtCheckpointBody,
    StateUpdateBody,
    ThreadCreateBody,
    ThreadPatchBody,
    ThreadSearchBody,
)
from api.routes.langgraph.responses import GRAPH_METADATA, JSON, thread, thread_state

router = APIRouter(prefix="/threads")

_SORT_KEYS: dict[str, SortKey] = {
    "thread_id": "thread_id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "state_updated_at": "updated_at",
    "status": "updated_at",
}
# What a thread always carries, `select` or not: the fields its schema requires.
_ALWAYS = ("thread_id", "created_at", "updated_at", "metadata", "status")


async def _with_values(conversations: Conversations, session: Session) -> dict[str, Any]:
    state = await conversations.latest_state(session)
    return thread(session, state.values)


async def _thread(conversations: Conversations, thread_id: UUID, owner: str) -> JSON:
    session = await conversations.session_with_status(thread_id, owner)
    return JSON(await _with_values(conversations, session))


@router.post("")
async def create_thread(
    body: ThreadCreateBody, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    session = await conversations.create(owner, session_id=body.thread_id, metadata=body.metadata)
    if session is not None:
        return JSON(thread(session, None))
    assert body.thread_id is not None  # a new random id is never taken
    if body.if_exists == "do_nothing":
        try:
            existing = await conversations.session_with_status(body.thread_id, owner)
        except SessionNotFound:
            pass  # taken by another key's session: as good as any other clash
        else:
            return JSON(await _with_values(conversations, existing))
    raise HTTPException(409, f"thread {body.thread_id} exists already")


@router.post("/search")
async def search_threads(
    body: ThreadSearchBody, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    if body.values:
        raise HTTPException(422, "searching threads by their values is not supported")
    if body.status in ("interrupted", "error"):
        # A turn here is saved whole or not at all: no thread is ever left in either status.
        return JSON([], headers={"X-Pagination-Total": "0"})
    query = SessionQuery(
        contains=body.metadata,
        defaults=GRAPH_METADATA,
        ids=body.ids,
        busy=None if body.status is None else body.status == "busy",
        limit=body.limit,
        offset=body.offset,
        sort_by=_SORT_KEYS[body.sort_by],
        descending=body.sort_order == "desc",
    )
    sessions, total = await conversations.search(owner, query)
    threads = await asyncio.gather(*(_with_values(conversations, s) for s in sessions))
    if body.select:
        keep = {*body.select, *_ALWAYS}
        threads = [{k: v for k, v in t.items() if k in keep} for t in threads]
    headers = {"X-Pagination-Total": str(total)}
    if body.offset + len(sessions) < total:
        headers["X-Pagination-Next"] = str(body.offset + len(sessions))
    return JSON(threads, headers=headers)


@router.get("/{thread_id}")
async def get_thread(thread_id: UUID, conversations: ConversationsDep, owner: OwnerDep) -> JSON:
    return JSON(
        await _with_values(conversations, await conversations.session_with_status(thread_id, owner))
    )


@router.patch("/{thread_id}")
async def patch_thread(
    thread_id: UUID, body: ThreadPatchBody, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    await conversations.update_metadata(thread_id, owner, body.metadata)
    return JSON(
        await _with_values(conversations, await conversations.session_with_status(thread_id, owner))
    )


@router.delete("/{thread_id}", status_code=204)
async def delete_thread(
    thread_id: UUID, conversations: ConversationsDep, owner: OwnerDep
) -> Response:
    await conversations.delete(thread_id, owner)
    return Response(status_code=204)


async def _state_at(
    conversations: Conversations, thread_id: UUID, owner: str, checkpoint_id: str | None
) -> StateSnapshot:
    session = await conversations.session(thread_id, owner)
    if checkpoint_id is None:
        return await conversations.latest_state(session)
    try:
        return await conversations.state_at(session, checkpoint_id)
    except UnknownCheckpoint as unknown:
        raise HTTPException(404, str(unknown)) from None


@router.get("/{thread_id}/state")
async def get_state(
    thread_id: UUID,
    conversations: ConversationsDep,
    owner: OwnerDep,
    subgraphs: Annotated[bool, Query()] = False,
) -> JSON:
    session = await conversations.session(thread_id, owner)
    return JSON(thread_state(await conversations.state_now(session, owner)))


@router.post("/{thread_id}/state")
async def update_state(
    thread_id: UUID, body: StateUpdateBody, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    if isinstance(body.values, list):
        raise HTTPException(422, "values: one update at a time (an object), not a list")
    checkpoint = _checkpoint_id(body.checkpoint) or body.checkpoint_id
    try:
        new_checkpoint_id = await conversations.update_state(
            thread_id, owner, body.values, as_node=body.as_node, from_checkpoint=checkpoint
        )
    except UnknownCheckpoint as unknown:
        raise HTTPException(404, str(unknown)) from None
    except (InvalidUpdateError, ValueError) as invalid:
        raise HTTPException(422, f"the state update was refused: {invalid}") from None
    return JSON(
        {
            "checkpoint": {
                "thread_id": str(thread_id),
                "checkpoint_ns": "",
                "checkpoint_id": new_checkpoint_id,
            }
        }
    )


@router.post("/{thread_id}/state/checkpoint")
async def get_state_at_checkpoint(
    thread_id: UUID, body: StateAtCheckpointBody, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    state = await _state_at(conversations, thread_id, owner, _checkpoint_id(body.checkpoint))
    return JSON(thread_state(state))


@router.get("/{thread_id}/state/{checkpoint_id}")
async def get_state_by_checkpoint_id(
    thread_id: UUID, checkpoint_id: str, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    return JSON(thread_state(await _state_at(conversations, thread_id, owner, checkpoint_id)))


def _checkpoint_id(ref: CheckpointRef | str | None) -> str | None:
    return ref.id if isinstance(ref, CheckpointRef) else ref


async def _history(
    conversations: Conversations,
    thread_id: UUID,
    owner: str,
    query: HistoryQuery,
) -> JSON:
    session = await conversations.session(thread_id, owner)
    states = await conversations.history(
        session,
        limit=query.limit,
        before=_checkpoint_id(query.before),
        checkpoint_id=_checkpoint_id(query.checkpoint),
        metadata=query.metadata,
    )
    return JSON([thread_state(s) for s in states])


@router.post("/{thread_id}/history")
async def post_history(
    thread_id: UUID, body: HistoryQueryBody, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    return await _history(conversations, thread_id, owner, body)


@router.get("/{thread_id}/history")
async def get_history(
    thread_id: UUID,
    conversations: ConversationsDep,
    owner: OwnerDep,
    limit: Annotated[int, Query()] = 10,
    before: Annotated[str | None, Query()] = None,
) -> JSON:
    if not 1 <= limit <= 1000:
        raise HTTPException(422, "limit: must be from 1 to 1000")
    return await _history(conversations, thread_id, owner, HistoryQuery(limit=limit, before=before))
