"""Runs: a run is a turn, through the same machinery as POST /chat/{id}."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException
from fastapi.sse import format_sse_event
from langchain_core.messages import AIMessageChunk
from starlette.responses import Response

from api.auth import OwnerDep
from api.conversations import (
    Conversations,
    Failure,
    Reply,
    SessionNotFound,
    Token,
    Turn,
    TurnEvent,
    Update,
    Values,
)
from api.deps import ConversationsDep, SettingsDep
from api.routes.langgraph.inputs import input_messages
from api.routes.langgraph.requests import RunCreate, RunCreateBody
from api.routes.langgraph.responses import ASSISTANT_ID, GRAPH_ID, GRAPH_METADATA, JSON, dumps
from api.settings import Settings
from api.streaming import StreamPolicy, pump, sse_response

router = APIRouter()

_HEARTBEAT = b": heartbeat\n\n"
# The `error` of an `event: error`, as the SDKs raise it, by the status the failure would have.
_ERROR_NAMES = {
    404: "NotFound",
    409: "Conflict",
    502: "ModelError",
    503: "ServiceUnavailable",
    504: "ModelTimeout",
}


def _event(name: str, data: Any) -> bytes:
    return format_sse_event(event=name, data_str=dumps(data).decode())


class RunEncoder:
    """A turn's events as the stream modes a LangGraph client asked for."""

    def __init__(self, run_id: str, thread_id: str, modes: set[str]) -> None:
        self._modes = modes
        self._run_metadata = {**GRAPH_METADATA, "run_id": run_id, "thread_id": thread_id}
        # `messages` mode sends each message whole so far, so the chunks are added up here.
        self._partial: dict[str, AIMessageChunk] = {}

    def __call__(self, event: TurnEvent | None) -> Iterable[bytes]:
        if event is None:
            yield _HEARTBEAT
        elif isinstance(event, Values):
            if "values" in self._modes:
                yield _event("values", event.values)
        elif isinstance(event, Update):
            if "updates" in self._modes:
                yield _event("updates", {event.node: event.values})
        elif isinstance(event, Token):
            yield from self._token(event)
        elif isinstance(event, Failure):
            name = _ERROR_NAMES.get(event.status, "InternalError")
            yield _event("error", {"error": name, "message": event.message})
        elif isinstance(event, Reply):
            return

    def _token(self, token: Token) -> Iterable[bytes]:
        if "messages-tuple" in self._modes:
            metadata = {**token.metadata, **self._run_metadata}
            yield _event("messages", [token.chunk, metadata])
        if "messages" in self._modes:
            message_id = str(token.chunk.id)
            if message_id in self._partial:
                self._partial[message_id] += token.chunk
            else:
                self._partial[message_id] = token.chunk
                metadata = {**token.metadata, **self._run_metadata}
                yield _event("messages/metadata", {message_id: {"metadata": metadata}})
            yield _event("messages/partial", [self._partial[message_id]])


def _check_assistant(run: RunCreate) -> None:
    if run.assistant_id not in (ASSISTANT_ID, GRAPH_ID):
        raise HTTPException(404, f"no such assistant: this server runs one, {GRAPH_ID!r}")


async def _start(
    conversations: Conversations,
    settings: Settings,
    owner: str,
    thread_id: UUID | None,
    run: RunCreate,
) -> tuple[UUID, Turn, list[TurnEvent]]:
    """Starts the run's turn; its events up to the first token, or a 4xx/5xx if it failed."""
    _check_assistant(run)
    messages = input_messages(run, settings.max_message_bytes)
    stateless = thread_id is None
    if stateless or run.if_not_exists == "create":
        session = await conversations.create(owner, session_id=thread_id)
        if session is not None:
            thread_id = session.id
    assert thread_id is not None
    checkpoint = run.checkpoint.checkpoint_id if run.checkpoint else run.checkpoint_id
    turn = conversations.start_turn(
        thread_id,
        owner,
        messages,
        reject_if_busy=run.multitask_strategy == "reject",
        at_checkpoint=checkpoint,
        discard=stateless and run.on_completion == "delete",
    )
    opening = await turn.opening()
    if isinstance(opening[-1], Failure):
        if opening[-1].status == 404:
            raise SessionNotFound
        raise HTTPException(opening[-1].status, opening[-1].message)
    return thread_id, turn, opening


async def _stream(
    conversations: Conversations,
    settings: Settings,
    owner: str,
    thread_id: UUID | None,
    run: RunCreate,
) -> Response:
    started_on, turn, opening = await _start(conversations, settings, owner, thread_id, run)
    run_id = str(uuid4())
    policy = StreamPolicy(settings.heartbeat_seconds, run.on_disconnect or settings.on_disconnect)
    encode = RunEncoder(run_id, str(started_on), run.modes)

    async def body() -> AsyncIterator[bytes]:
        yield _event("metadata", {"run_id": run_id, "attempt": 1})
        async for data in pump(opening, turn, encode, policy):
            yield data

    where = f"/runs/{run_id}" if thread_id is None else f"/threads/{thread_id}/runs/{run_id}"
    return sse_response(body(), headers={"Content-Location": where})


async def _wait(
    conversations: Conversations,
    settings: Settings,
    owner: str,
    thread_id: UUID | None,
    run: RunCreate,
) -> JSON:
    _, turn, events = await _start(conversations, settings, owner, thread_id, run)
    cancel = (run.on_disconnect or settings.on_disconnect) == "cancel"
    try:
        while not turn.ended:
            event = await turn.next_event()
            assert event is not None
            events.append(event)
    except asyncio.CancelledError:
        if cancel:
            turn.cancel()
        raise
    if isinstance(events[-1], Failure):
        raise HTTPException(events[-1].status, events[-1].message)
    values = [e.values for e in events if isinstance(e, Values)]
    return JSON(values[-1] if values else {})


@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(
    thread_id: UUID,
    run: RunCreateBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> Response:
    return await _stream(conversations, settings, owner, thread_id, run)


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(
    thread_id: UUID,
    run: RunCreateBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> JSON:
    return await _wait(conversations, settings, owner, thread_id, run)


@router.post("/runs/stream")
async def stream_stateless_run(
    run: RunCreateBody, conversations: ConversationsDep, settings: SettingsDep, owner: OwnerDep
) -> Response:
    return await _stream(conversations, settings, owner, None, run)


@router.post("/runs/wait")
async def wait_stateless_run(
    run: RunCreateBody, conversations: ConversationsDep, settings: SettingsDep, owner: OwnerDep
) -> JSON:
    return await _wait(conversations, settings, owner, None, run)
