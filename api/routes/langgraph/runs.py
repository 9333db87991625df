"""Runs: a run is a turn, through the same machinery as POST /chat/{id}."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, HTTPException, Query
from starlette.responses import Response

from api.auth import OwnerDep
from api.conversations import Conversations, Turn, Values
from api.conversations.failures import RunNotOpen, RunStillOpen
from api.deps import ConversationsDep, SettingsDep, StreamPolicyDep
from api.routes.langgraph.assistants import check_assistant
from api.routes.langgraph.inputs import input_messages
from api.routes.langgraph.requests import RunCreate, RunCreateBody
from api.routes.langgraph.responses import JSON
from api.routes.langgraph.responses import run as run_json
from api.settings import Settings
from api.streaming import StreamPolicy, pump, sse_response
from api.streaming.positions import parse_event_id
from api.streaming.runs import RunEncoder

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
    if thread_id is not None:
        await conversations.describe_run(started_on, run_id, run.metadata or {}, _run_kwargs(run))
    encode = RunEncoder(run_id, str(started_on), run.modes)

    async def body() -> AsyncIterator[bytes]:
        for data in encode.metadata(run_id):
            yield data
        async for data in pump(turn, encode, policy.with_on_disconnect(run.on_disconnect)):
            yield data

    # A stateless run's thread goes with it: there is nothing to resume.
    return sse_response(body(), headers=_stream_headers(thread_id, run_id))


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


def _run_kwargs(run: RunCreate) -> dict[str, Any]:
    """What a run's later readers need of its request: how it streams."""
    return {
        "stream_mode": sorted(run.modes),
        "multitask_strategy": run.multitask_strategy,
        "on_disconnect": run.on_disconnect,
    }


@router.post("/threads/{thread_id}/runs")
async def create_run(
    thread_id: UUID,
    run: RunCreateBody,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> JSON:
    """A background run: it runs on with no client following it; read it, join it or stream
    it from any replica."""
    run_id = str(uuid4())
    started_on, _ = await _start(conversations, settings, owner, thread_id, run, run_id)
    await conversations.describe_run(started_on, run_id, run.metadata or {}, _run_kwargs(run))
    found = await conversations.run(started_on, owner, run_id)
    return JSON(run_json(found), headers={"Content-Location": _location(started_on, run_id)})


@router.get("/threads/{thread_id}/runs")
async def list_runs(
    thread_id: UUID,
    conversations: ConversationsDep,
    owner: OwnerDep,
    limit: Annotated[int, Query()] = 10,
    offset: Annotated[int, Query()] = 0,
    status: str | None = None,
) -> JSON:
    # Checked here rather than by FastAPI, whose 422 `detail` is a list: the SDKs read a string.
    if not 1 <= limit <= 1000 or not 0 <= offset < 2**63:
        raise HTTPException(422, "limit: must be from 1 to 1000; offset: from 0 to 2^63 - 1")
    found = await conversations.runs(thread_id, owner, limit=limit, offset=offset, status=status)
    return JSON([run_json(run) for run in found])


@router.get("/threads/{thread_id}/runs/{run_id}")
async def get_run(
    thread_id: UUID, run_id: str, conversations: ConversationsDep, owner: OwnerDep
) -> JSON:
    return JSON(run_json(await conversations.run(thread_id, owner, run_id)))


@router.delete("/threads/{thread_id}/runs/{run_id}", status_code=204)
async def delete_run(
    thread_id: UUID, run_id: str, conversations: ConversationsDep, owner: OwnerDep
) -> Response:
    try:
        await conversations.delete_run(thread_id, owner, run_id)
    except RunStillOpen as open_run:
        raise HTTPException(409, str(open_run)) from None
    return Response(status_code=204)


@router.post("/threads/{thread_id}/runs/{run_id}/cancel", status_code=202)
async def cancel_run(
    thread_id: UUID,
    run_id: str,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
    wait: bool = False,
    action: Literal["interrupt", "rollback"] = "interrupt",
) -> Response:
    """Stops the run on whichever replica runs it; nothing of its turn is stored (`interrupt`
    and `rollback` alike: a turn is saved whole or not at all). `wait`: answer once it ended."""
    try:
        await conversations.cancel_run(thread_id, owner, run_id)
    except RunNotOpen as ended:
        raise HTTPException(409, str(ended)) from None
    if wait:
        async for _ in conversations.run_events(
            thread_id, owner, run_id, settings.heartbeat_seconds
        ):
            pass
    return Response(status_code=202)


@router.get("/threads/{thread_id}/runs/{run_id}/join")
async def join_run(
    thread_id: UUID,
    run_id: str,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> JSON:
    """Waits for the run's end, then answers with the thread's state as it left it."""
    await conversations.run(thread_id, owner, run_id)
    async for _ in conversations.run_events(thread_id, owner, run_id, settings.heartbeat_seconds):
        pass
    state = await conversations.latest_state(await conversations.session(thread_id, owner))
    return JSON(state.values)


@router.get("/threads/{thread_id}/runs/{run_id}/stream")
async def join_run_stream(
    thread_id: UUID,
    run_id: str,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
    stream_mode: Annotated[list[str] | None, Query()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The run's stream from its start, or after `Last-Event-ID`, then live to its end,
    through any replica, in the modes it was started with (or `stream_mode`)."""
    found = await conversations.run(thread_id, owner, run_id)
    # The SDKs send an empty `stream_mode` when the caller names none.
    asked = [mode for mode in stream_mode or [] if mode]
    modes = set(asked or found.kwargs.get("stream_mode") or ["values"])
    after = parse_event_id(last_event_id) if last_event_id else None
    encode = RunEncoder(run_id, str(thread_id), modes, after=after)

    async def body() -> AsyncIterator[bytes]:
        for data in encode.metadata(run_id):
            yield data
        events = conversations.run_events(thread_id, owner, run_id, settings.heartbeat_seconds)
        async for data in encode.replay(events):
            yield data

    return sse_response(body(), headers=_stream_headers(thread_id, run_id))


def _location(thread_id: UUID, run_id: str) -> str:
    return f"/threads/{thread_id}/runs/{run_id}"


def _stream_headers(thread_id: UUID | None, run_id: str) -> dict[str, str]:
    if thread_id is None:
        return {"Content-Location": f"/runs/{run_id}"}
    return {
        "Location": f"{_location(thread_id, run_id)}/stream",
        "Content-Location": _location(thread_id, run_id),
    }
