"""Runs: a run is a turn, through the same machinery as POST /chat/{id}."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID, uuid4

from fastapi import APIRouter
from starlette.responses import Response

from api.auth import OwnerDep
from api.conversations import Conversations, Turn, Values
from api.deps import ConversationsDep, SettingsDep, StreamPolicyDep
from api.routes.langgraph.assistants import check_assistant
from api.routes.langgraph.inputs import input_messages
from api.routes.langgraph.requests import RunCreate, RunCreateBody
from api.routes.langgraph.responses import JSON
from api.settings import Settings
from api.streaming import StreamPolicy, pump, sse_response
from api.streaming.runs import RunEncoder, run_event

router = APIRouter()


async def _start(
    conversations: Conversations,
    settings: Settings,
    owner: str,
    thread_id: UUID | None,
    run: RunCreate,
    run_id: str,
) -> tuple[UUID, Turn]:
    """Starts the run's turn, and returns once it runs or waits in line behind another turn of
    the thread (as langgraph-api answers a queued run at once); a 4xx/5xx if it never will."""
    check_assistant(run.assistant_id)
    checkpoint = (run.checkpoint.id if run.checkpoint else None) or run.checkpoint_id
    messages = input_messages(
        run,
        settings.max_message_bytes,
        settings.max_attachment_bytes,
        from_checkpoint=checkpoint,
    )
    stateless = thread_id is None
    if stateless or run.if_not_exists == "create":
        session = await conversations.create(owner, session_id=thread_id)
        if session is not None:
            thread_id = session.id
    assert thread_id is not None
    turn = conversations.start_turn(
        thread_id,
        owner,
        messages,
        reject_if_busy=run.multitask_strategy == "reject",
        from_checkpoint=checkpoint,
        discard=stateless and run.on_completion == "delete",
        run_id=run_id,
    )
    await turn.queued()
    return thread_id, turn


async def _stream(
    conversations: Conversations,
    settings: Settings,
    policy: StreamPolicy,
    owner: str,
    thread_id: UUID | None,
    run: RunCreate,
) -> Response:
    run_id = str(uuid4())
    started_on, turn = await _start(conversations, settings, owner, thread_id, run, run_id)
    encode = RunEncoder(run_id, str(started_on), run.modes)

    async def body() -> AsyncIterator[bytes]:
        yield run_event("metadata", {"run_id": run_id, "attempt": 1})
        async for data in pump(turn, encode, policy.with_on_disconnect(run.on_disconnect)):
            yield data

    where = f"/runs/{run_id}" if thread_id is None else f"/threads/{thread_id}/runs/{run_id}"
    return sse_response(body(), headers={"Content-Location": where})


async def _wait(
    conversations: Conversations,
    settings: Settings,
    policy: StreamPolicy,
    owner: str,
    thread_id: UUID | None,
    run: RunCreate,
) -> JSON:
    _, turn = await _start(conversations, settings, owner, thread_id, run, str(uuid4()))
    events = await turn.result(policy.with_on_disconnect(run.on_disconnect).on_disconnect)
    values = [e.values for e in events if isinstance(e, Values)]
    return JSON(values[-1] if values else {})


@router.post("/threads/{thread_id}/runs/stream")
async def stream_run(
    thread_id: UUID,
    run: RunCreateBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    policy: StreamPolicyDep,
    owner: OwnerDep,
) -> Response:
    return await _stream(conversations, settings, policy, owner, thread_id, run)


@router.post("/threads/{thread_id}/runs/wait")
async def wait_run(
    thread_id: UUID,
    run: RunCreateBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    policy: StreamPolicyDep,
    owner: OwnerDep,
) -> JSON:
    return await _wait(conversations, settings, policy, owner, thread_id, run)


@router.post("/runs/stream")
async def stream_stateless_run(
    run: RunCreateBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    policy: StreamPolicyDep,
    owner: OwnerDep,
) -> Response:
    return await _stream(conversations, settings, policy, owner, None, run)


@router.post("/runs/wait")
async def wait_stateless_run(
    run: RunCreateBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    policy: StreamPolicyDep,
    owner: OwnerDep,
) -> JSON:
    return await _wait(conversations, settings, policy, owner, None, run)
