"""The thread-centric protocol (POST /threads/{id}/commands, POST /threads/{id}/stream/events)
through LangGraph's Python SDK and plain HTTP: a turn's events in order, read live from any
replica, resumed with `since` with no gap and no duplicate."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from api.main import create_app
from api.settings import Settings
from devtools.openai_stub import StubBehaviour
from devtools.processes import server_environment
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve, two_chat_servers
from tests.support.thread_events import Frame, start_run, thread_stream, until_run_ends

BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"
# One turn of this graph, as langgraph-api streams it (the deltas: one a token).
ONE_TURN = [
    ("lifecycle", "running"),
    ("values", None),
    ("messages", "message-start"),
    ("messages", "content-block-start"),
    ("messages", "content-block-delta"),
    ("messages", "content-block-finish"),
    ("messages", "message-finish"),
    ("values", None),
    ("lifecycle", "completed"),
]


@pytest.fixture
async def sdk(client: httpx.AsyncClient) -> AsyncIterator[LangGraphClient]:
    async with get_client(url=str(client.base_url).rstrip("/"), api_key=None) as sdk:
        yield sdk


def _shape(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    """Each event's method and its data's `event`, consecutive deltas as one."""
    shape: list[tuple[str, str | None]] = []
    for event in events:
        step = (event["method"], event["params"]["data"].get("event"))
        if step == ("messages", "content-block-delta") and shape and shape[-1] == step:
            continue
        if event["method"] not in ("updates", "checkpoints"):
            shape.append(step)
    return shape


def _text(events: list[dict[str, Any]]) -> str:
    return "".join(
        e["params"]["data"]["delta"]["text"]
        for e in events
        if e["params"]["data"].get("event") == "content-block-delta"
    )


def _is_end(event: dict[str, Any]) -> bool:
    data = event["params"]["data"]
    return event["method"] == "lifecycle" and data["event"] in ("completed", "failed")


async def test_the_sdk_sends_a_message_and_reads_its_events_in_order(
    sdk: LangGraphClient, fake_model: FakeChatModel
) -> None:
    # The model waits after its first token until the reader has seen it: the reply is read
    # while the turn runs.
    fake_model.gate = asyncio.Event()
    async with sdk.threads.stream(assistant_id="chat") as thread:
        started = await thread.run.start(input={"messages": [{"role": "user", "content": BOB}]})
        events: list[dict[str, Any]] = []
        async for received in thread.subscribe(["lifecycle", "messages", "values", "updates"]):
            event: dict[str, Any] = dict(received)
            events.append(event)
            if event["params"]["data"].get("event") == "content-block-delta":
                fake_model.gate.set()
            if _is_end(event):
                break
        output = await thread.output

    assert _shape(events) == ONE_TURN
    assert _text(events) == HELLO_BOB
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    assert events[0]["event_id"] == f"synth:{started['run_id']}:lc||running"
    assert events[-1]["event_id"] == f"synth:{started['run_id']}:lc||completed"
    assert [m["content"] for m in events[1]["params"]["data"]["messages"]] == [BOB]
    assert [m["content"] for m in output["messages"]] == [BOB, HELLO_BOB]


async def test_a_stream_on_one_replica_sees_a_turn_started_on_another_live(
    settings: Settings,
) -> None:
    model = FakeChatModel(gate=asyncio.Event())
    thread_id = str(uuid4())
    async with (
        serve(create_app(settings, chat_model=model)) as url_a,
        serve(create_app(settings, chat_model=FakeChatModel())) as url_b,
        httpx.AsyncClient(base_url=url_a, timeout=30) as a,
        httpx.AsyncClient(base_url=url_b, timeout=30) as b,
        thread_stream(b, thread_id) as frames,
    ):
        started = await start_run(a, thread_id, BOB)
        read: list[Frame] = []
        async for frame in frames:
            if isinstance(frame, str):
                continue
            read.append(frame)
            if frame.data["params"]["data"].get("event") == "content-block-delta":
                break
        # Replica A's turn waits for this: B heard of it while it ran.
        assert model.gate is not None
        model.gate.set()
        read += await until_run_ends(frames)

    events = [frame.data for frame in read]
    assert _shape(events) == ONE_TURN
    assert _text(events) == HELLO_BOB
    assert [int(frame.id or 0) for frame in read] == [e["seq"] for e in events]
    assert events[0]["event_id"] == f"synth:{started['result']['run_id']}:lc||running"


async def test_two_server_processes_share_a_thread_stream_through_postgresql_alone(
    scratch_dir: Path, database_url: str, openai_stub_url: str, stub_behaviour: StubBehaviour
) -> None:
    stub_behaviour.token_delay = 0.05
    env = server_environment(DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url)
    thread_id = str(uuid4())
    async with two_chat_servers(scratch_dir, env) as (one, two):
        async with thread_stream(two, thread_id) as frames:
            await start_run(one, thread_id, BOB)
            arrived: list[tuple[float, Frame]] = []
            async for frame in frames:
                if isinstance(frame, Frame):
                    arrived.append((time.monotonic(), frame))
                    if frame.ends_run:
                        break
        # Read from the start by the first process too, once the turn is over.
        async with thread_stream(one, thread_id, since=0) as frames:
            replayed = await until_run_ends(frames)

    read = [frame for _, frame in arrived]
    assert _shape([f.data for f in read]) == ONE_TURN
    assert _text([f.data for f in read]) == HELLO_BOB
    assert replayed == read
    first_delta = next(
        at for at, f in arrived if f.data["params"]["data"].get("event") == "content-block-delta"
    )
    # Token by token as the other process streamed them, not all at its end.
    assert arrived[-1][0] - first_delta > 0.3


async def _one_turn(
    http: httpx.AsyncClient, thread_id: str, text: str, after: list[Frame] | None = None
) -> list[Frame]:
    """Starts a turn and reads it whole, from a stream opened before it (after the turn
    whose frames are `after`, if any: else a stream would replay that one, just ended)."""
    since = {"since": after[-1].data["seq"]} if after else {}
    async with thread_stream(http, thread_id, **since) as frames:
        await start_run(http, thread_id, text)
        return await until_run_ends(frames)


async def test_since_resumes_with_no_gap_and_no_duplicate(client: httpx.AsyncClient) -> None:
    thread_id = str(uuid4())
    first = await _one_turn(client, thread_id, BOB)
    assert [f.data["seq"] for f in first] == list(range(1, len(first) + 1))

    async with thread_stream(client, thread_id, since=0) as frames:
        assert await until_run_ends(frames) == first
    middle = len(first) // 2
    async with thread_stream(client, thread_id, since=middle) as frames:
        assert await until_run_ends(frames) == first[middle:]

    # The next turn's seqs go on.
    second = await _one_turn(client, thread_id, "And again", after=first)
    assert second[0].data["seq"] == len(first) + 1
    assert _text([f.data for f in second]) == "You said: And again"
    async with thread_stream(client, thread_id, since=middle) as frames:
        assert await until_run_ends(frames) == first[middle:]
        assert await until_run_ends(frames) == second


async def test_since_older_than_what_is_kept_is_a_resume_gap(
    client: httpx.AsyncClient, database_url: str
) -> None:
    thread_id = str(uuid4())
    first = await _one_turn(client, thread_id, BOB)
    with psycopg.connect(database_url, autocommit=True) as admin:
        # As the retention period's pruning would: the oldest events first.
        admin.execute(
            "DELETE FROM chat_thread_events WHERE thread_id = %s AND seq <= 3", (thread_id,)
        )

    async with thread_stream(client, thread_id, since=1) as frames:
        [gap] = await until_run_ends(frames)
    assert gap.event == "error"
    assert gap.data["error"] == "resume_gap"
    assert (gap.data["since"], gap.data["min_available_seq"]) == (1, 4)
    async with thread_stream(client, thread_id, since=3) as frames:
        assert await until_run_ends(frames) == first[3:]


async def test_the_stream_beats_while_idle(settings: Settings) -> None:
    quick = settings.model_copy(update={"heartbeat_seconds": 0.2})
    async with (
        serve(create_app(quick, chat_model=FakeChatModel())) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
        thread_stream(http, str(uuid4())) as frames,
    ):
        assert [await anext(frames), await anext(frames)] == [": heartbeat"] * 2


def _run_start(text: str) -> dict[str, Any]:
    user = {"role": "user", "content": text}
    return {
        "id": 1,
        "method": "run.start",
        "params": {"assistant_id": "chat", "input": {"messages": [user]}},
    }


async def _command(http: httpx.AsyncClient, body: Any) -> httpx.Response:
    return await http.post(f"/threads/{uuid4()}/commands", json=body)


async def test_commands_other_than_run_start_are_answered_as_langgraph_api_does(
    client: httpx.AsyncClient,
) -> None:
    tree = await _command(client, {"id": 3, "method": "agent.getTree", "params": {}})
    assert (tree.status_code, tree.json()["error"], tree.json()["id"]) == (200, "no_such_run", 3)
    other = await _command(client, {"id": 4, "method": "state.get", "params": {}})
    assert (other.status_code, other.json()["error"]) == (200, "unknown_command")
    no_id = await _command(client, {"id": "x", "method": "run.start"})
    assert (no_id.status_code, no_id.json()["error"], no_id.json()["id"]) == (
        400,
        "invalid_argument",
        None,
    )
    bad_json = await client.post(f"/threads/{uuid4()}/commands", content=b"{")
    assert (bad_json.status_code, bad_json.json()) == (400, {"detail": "Invalid JSON body"})
    no_assistant = await _command(client, {"id": 5, "method": "run.start", "params": {}})
    assert (no_assistant.status_code, no_assistant.json()["error"]) == (200, "invalid_argument")


async def test_a_stream_needs_known_channels(client: httpx.AsyncClient) -> None:
    bodies: list[dict[str, Any]] = [{}, {"channels": []}, {"channels": ["values", "nope"]}]
    for body in bodies:
        response = await client.post(f"/threads/{uuid4()}/stream/events", json=body)
        assert response.status_code == 400, body
    assert "nope" in response.json()["detail"]


async def _sdk_turn(url: str, text: str) -> list[dict[str, Any]]:
    """One turn through the Python SDK's `threads.stream`: its events up to the run's end."""
    events: list[dict[str, Any]] = []
    async with (
        get_client(url=url, api_key=None) as sdk,
        sdk.threads.stream(assistant_id="chat") as thread,
    ):
        await thread.run.start(input={"messages": [{"role": "user", "content": text}]})
        async for received in thread.subscribe(["lifecycle", "messages", "values"]):
            events.append(dict(received))
            if _is_end(events[-1]):
                return events
    raise AssertionError(f"the stream ended before its run: {events}")


async def test_the_same_events_as_langgraph_dev(
    openai_app_url: str, langgraph_dev: str, stub_behaviour: StubBehaviour
) -> None:
    # Slow enough that the stream is open before the turn ends: without `since`, this server
    # replays the running turn only.
    stub_behaviour.token_delay = 0.05
    ours = await asyncio.wait_for(_sdk_turn(openai_app_url, BOB), 60)
    theirs = await asyncio.wait_for(_sdk_turn(langgraph_dev, BOB), 60)
    assert _shape(ours) == _shape(theirs)
    assert _text(ours) == _text(theirs) == HELLO_BOB
    for our, their in zip(ours, theirs, strict=True):
        assert our["params"]["namespace"] == their["params"]["namespace"] == []
        assert our["params"]["data"].keys() == their["params"]["data"].keys(), their


async def test_a_turn_whose_model_fails_ends_with_a_failed_lifecycle(
    openai_app_url: str, stub_behaviour: StubBehaviour
) -> None:
    stub_behaviour.cut_after_tokens = 3
    async with httpx.AsyncClient(base_url=openai_app_url, timeout=30) as http:
        frames = await _one_turn(http, str(uuid4()), BOB)
    events = [frame.data for frame in frames]
    assert _shape(events)[:5] == ONE_TURN[:5]
    assert _shape(events)[-3:] == [
        ("messages", "content-block-finish"),
        ("messages", "message-finish"),
        ("lifecycle", "failed"),
    ]
    assert events[-1]["params"]["data"]["error"]
    assert events[-1]["event_id"].endswith(":lc||failed")


async def test_a_thread_stream_is_its_owners_only(
    keyed_url: str, api_keys: tuple[str, str]
) -> None:
    thread_id = str(uuid4())
    async with (
        httpx.AsyncClient(base_url=keyed_url, timeout=30) as anonymous,
        httpx.AsyncClient(
            base_url=keyed_url, timeout=30, headers={"X-Api-Key": api_keys[0]}
        ) as owner,
        httpx.AsyncClient(
            base_url=keyed_url, timeout=30, headers={"X-Api-Key": api_keys[1]}
        ) as other,
    ):
        refused = await anonymous.post(
            f"/threads/{thread_id}/stream/events", json={"channels": ["lifecycle"]}
        )
        assert refused.status_code == 401
        assert len(await _one_turn(owner, thread_id, BOB)) > 3

        async with thread_stream(other, thread_id, since=0) as frames:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(frames), 1)
        taken = await other.post(f"/threads/{thread_id}/commands", json=_run_start("Hi"))
        assert (taken.json()["type"], taken.json()["error"]) == ("error", "invalid_argument")
        assert taken.json()["message"] == "no such session"


async def test_states_are_recorded_as_references_and_read_back_whole(
    client: httpx.AsyncClient, database_url: str
) -> None:
    thread_id = str(uuid4())
    turns: list[list[Frame]] = []
    for n in range(6):
        turns.append(
            await _one_turn(client, thread_id, f"Message {n}", turns[-1] if turns else None)
        )

    # Read back, each state is the whole conversation as it was.
    last_values = [f.data["params"]["data"] for f in turns[-1] if f.event == "values"]
    state = (await client.get(f"/threads/{thread_id}/state")).json()["values"]
    assert last_values[-1] == state
    assert [m["content"] for m in last_values[0]["messages"]][-2:] == [
        "You said: Message 4",
        "Message 5",
    ]
    # Stored, a turn's states take the same room on the sixth turn as on the second (the
    # first's refer to no checkpoint).
    with psycopg.connect(database_url, autocommit=True) as conn:
        sizes = conn.execute(
            "SELECT run_id, sum(pg_column_size(data)) FROM chat_thread_events"
            " WHERE thread_id = %s AND method = 'values' GROUP BY run_id ORDER BY min(seq)",
            (thread_id,),
        ).fetchall()
    assert len(sizes) == 6
    assert sizes[-1][1] == sizes[1][1]
