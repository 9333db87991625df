"""The thread-centric protocol on its WebSocket (WS /threads/{id}/stream/events), through
LangGraph's Python SDK and a plain WebSocket client: a turn's events in order, commands in-band,
subscriptions replayed with no gap and no duplicate, the key a browser can send, and the pages
that may open it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest
from langgraph_sdk import get_client
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from devtools.processes import server_environment
from tests.langgraph.test_thread_stream import BOB, HELLO_BOB, ONE_TURN, _is_end, _shape, _text
from tests.support.fakes import FakeChatModel
from tests.support.servers import chat_server_process
from tests.support.thread_events import RECORDED, start_run

# Generous: a deadline for a frame that must come, never a measure of how soon.
DEADLINE = 30
CHANNELS = RECORDED
Frame = dict[str, Any]


class Socket:
    """A plain client of the thread's socket: commands numbered 1, 2, 3, ..."""

    def __init__(self, websocket: ClientConnection) -> None:
        self.websocket = websocket
        self._ids = count(1)

    async def send(self, frame: Any) -> None:
        await self.websocket.send(json.dumps(frame))

    async def frame(self) -> Frame:
        frame: Frame = json.loads(await asyncio.wait_for(self.websocket.recv(), DEADLINE))
        return frame

    async def ask(self, method: str, **params: Any) -> tuple[list[Frame], Frame]:
        """Sends a command; the frames that came before its answer, and its answer."""
        command_id = next(self._ids)
        await self.send({"id": command_id, "method": method, "params": params})
        before = []
        while (frame := await self.frame()).get("id") != command_id or frame["type"] == "event":
            before.append(frame)
        return before, frame

    async def subscribe(self, **params: Any) -> tuple[list[Frame], Frame]:
        params.setdefault("channels", CHANNELS)
        return await self.ask("subscription.subscribe", **params)

    async def until_run_ends(self) -> list[Frame]:
        read = []
        while not _is_end(event := await self.frame()):
            assert event["type"] == "event", event
            read.append(event)
        return [*read, event]


def _ws(url: str, path: str) -> str:
    return url.replace("http://", "ws://", 1).rstrip("/") + path


@asynccontextmanager
async def socket(
    url: str, thread_id: str, query: str = "", **options: Any
) -> AsyncIterator[Socket]:
    async with connect(_ws(url, f"/threads/{thread_id}/stream/events{query}"), **options) as ws:
        yield Socket(ws)


def _base(client: httpx.AsyncClient) -> str:
    return str(client.base_url).rstrip("/")


def _message(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def _one_turn(url: str, thread_id: str, text: str) -> list[Frame]:
    """A turn started on a socket, and its events, read on it."""
    async with socket(url, thread_id) as ws:
        await ws.subscribe()
        _, started = await ws.ask("run.start", assistant_id="chat", input=_message(text))
        assert started["type"] == "success", started
        return await ws.until_run_ends()


async def test_the_sdk_reads_a_turn_over_the_websocket(
    client: httpx.AsyncClient, fake_model: FakeChatModel
) -> None:
    # The model waits after its first token until the reader has seen it: the reply is read
    # while the turn runs.
    fake_model.gate = asyncio.Event()
    async with (
        get_client(url=_base(client), api_key=None) as sdk,
        sdk.threads.stream(assistant_id="chat", transport="websocket") as thread,
    ):
        started = await thread.run.start(input=_message(BOB))
        events: list[Frame] = []
        async for received in thread.subscribe(CHANNELS):
            events.append(dict(received))
            if events[-1]["params"]["data"].get("event") == "content-block-delta":
                fake_model.gate.set()
            if _is_end(events[-1]):
                break
        output = await asyncio.wait_for(thread.output, DEADLINE)

    assert _shape(events) == ONE_TURN
    assert _text(events) == HELLO_BOB
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    assert events[0]["event_id"] == f"synth:{started['run_id']}:lc||running"
    assert [m["content"] for m in output["messages"]] == [BOB, HELLO_BOB]


async def test_a_turn_started_on_the_socket_streams_on_it(client: httpx.AsyncClient) -> None:
    thread_id = str(uuid4())
    async with socket(_base(client), thread_id) as ws:
        replayed, subscribed = await ws.subscribe()
        assert replayed == []
        assert subscribed["result"]["replayed_events"] == 0
        assert subscribed["meta"] == {"applied_through_seq": 0}
        _, started = await ws.ask("run.start", assistant_id="chat", input=_message(BOB))
        assert started["type"] == "success", started
        events = await ws.until_run_ends()

    run_id = started["result"]["run_id"]
    assert _shape(events) == ONE_TURN
    assert _text(events) == HELLO_BOB
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event_id"] == f"synth:{run_id}:lc||running"
    assert events[-1]["event_id"] == f"synth:{run_id}:lc||completed"
    state = (await client.get(f"/threads/{thread_id}/state")).json()
    assert [m["content"] for m in state["values"]["messages"]] == [BOB, HELLO_BOB]


async def test_a_subscription_without_since_replays_the_running_turn(
    client: httpx.AsyncClient, fake_model: FakeChatModel
) -> None:
    fake_model.gate = asyncio.Event()
    thread_id = str(uuid4())
    async with socket(_base(client), thread_id) as first:
        await first.subscribe()
        await first.ask("run.start", assistant_id="chat", input=_message(BOB))
        early = []
        while (event := await first.frame())["params"]["data"].get("event") != (
            "content-block-delta"
        ):
            early.append(event)
        early.append(event)

        async with socket(_base(client), thread_id) as second:
            replayed, subscribed = await second.subscribe()
            assert replayed == early
            assert subscribed["result"]["replayed_events"] == len(early)
            fake_model.gate.set()
            assert early + await first.until_run_ends() == replayed + await second.until_run_ends()


async def test_a_subscription_made_after_its_turn_ended_has_it_whole(
    client: httpx.AsyncClient,
) -> None:
    # As the JS SDK does: it subscribes once run.start is answered, when a quick turn may be over.
    replies = {BOB: HELLO_BOB, "And again": "You said: And again"}
    async with socket(_base(client), str(uuid4())) as ws:
        await ws.subscribe(channels=["lifecycle"])
        for text, reply in replies.items():
            _, started = await ws.ask("run.start", assistant_id="chat", input=_message(text))
            lifecycle = await ws.until_run_ends()
            replayed, subscribed = await ws.subscribe(channels=["lifecycle", "messages"])
            # That turn's events, and none of the turn before.
            assert [e for e in replayed if e["method"] == "lifecycle"] == lifecycle
            assert replayed[0]["event_id"] == f"synth:{started['result']['run_id']}:lc||running"
            assert _text(replayed) == reply
            await ws.ask(
                "subscription.unsubscribe", subscription_id=subscribed["result"]["subscription_id"]
            )


async def test_reconnect_resumes_with_no_gap_and_no_duplicate(
    client: httpx.AsyncClient,
) -> None:
    url, thread_id = _base(client), str(uuid4())
    first = await _one_turn(url, thread_id, BOB)
    middle = len(first) // 2
    async with socket(url, thread_id) as ws:
        replayed, answer = await ws.ask(
            "subscription.reconnect", channels=CHANNELS, since=middle, subscription_id="mine"
        )
        assert replayed == first[middle:]
        assert answer["result"] == {"subscription_id": "mine", "replayed_events": len(replayed)}
    async with socket(url, thread_id) as ws:
        replayed, _ = await ws.subscribe(since=0)
        assert replayed == first

    # Idle: without `since` nothing is replayed, and the next turn's seqs go on.
    async with socket(url, thread_id) as ws:
        replayed, answer = await ws.subscribe()
        assert (replayed, answer["result"]["replayed_events"]) == ([], 0)
        assert answer["meta"]["applied_through_seq"] == len(first)
        await start_run(client, thread_id, "And again")
        second = await ws.until_run_ends()
    assert second[0]["seq"] == len(first) + 1
    assert _text(second) == "You said: And again"


async def test_an_unsubscribed_subscription_sends_no_more(client: httpx.AsyncClient) -> None:
    thread_id = str(uuid4())
    async with socket(_base(client), thread_id) as ws:
        _, everything = await ws.subscribe()
        _, lifecycle = await ws.subscribe(channels=["lifecycle"])
        unsubscribe = {"subscription_id": everything["result"]["subscription_id"]}
        _, answer = await ws.ask("subscription.unsubscribe", **unsubscribe)
        assert (answer["type"], answer["result"]) == ("success", {})
        _, again = await ws.ask("subscription.unsubscribe", **unsubscribe)
        assert again["error"] == "no_such_subscription"

        await ws.ask("run.start", assistant_id="chat", input=_message(BOB))
        events = await ws.until_run_ends()
    assert _shape(events) == [("lifecycle", "running"), ("lifecycle", "completed")]
    assert lifecycle["type"] == "success"


async def test_since_older_than_what_is_kept_is_a_resume_gap(
    client: httpx.AsyncClient, database_url: str
) -> None:
    url, thread_id = _base(client), str(uuid4())
    first = await _one_turn(url, thread_id, BOB)
    with psycopg.connect(database_url, autocommit=True) as admin:
        # As the retention period's pruning would: the oldest events first.
        admin.execute(
            "DELETE FROM chat_thread_events WHERE thread_id = %s AND seq <= 3", (thread_id,)
        )

    async with socket(url, thread_id) as ws:
        replayed, gap = await ws.ask("subscription.reconnect", channels=CHANNELS, since=1)
        assert replayed == []
        assert (gap["type"], gap["error"], gap["id"]) == ("error", "resume_gap", 1)
        assert (gap["since"], gap["min_available_seq"]) == (1, 4)
        # The socket goes on: a reconnect from what is kept replays it.
        replayed, _ = await ws.ask("subscription.reconnect", channels=CHANNELS, since=3)
        assert replayed == first[3:]


async def test_commands_are_answered_as_langgraph_api_answers_them(
    client: httpx.AsyncClient,
) -> None:
    async with socket(_base(client), str(uuid4())) as ws:
        _, tree = await ws.ask("agent.getTree")
        assert (tree["error"], tree["id"]) == ("no_such_run", 1)
        _, other = await ws.ask("state.get")
        assert (other["error"], other["id"]) == ("unknown_command", 2)
        _, no_assistant = await ws.ask("run.start")
        assert no_assistant["error"] == "invalid_argument"
        _, bad_channel = await ws.ask("subscription.subscribe", channels=["values", "nope"])
        assert bad_channel["error"] == "invalid_argument"
        assert "nope" in bad_channel["message"]
        _, no_since = await ws.ask("subscription.reconnect", channels=["values"])
        assert no_since["error"] == "invalid_argument"

        for malformed in ("{", '{"id": "x", "method": "run.start"}', '{"id": 9}'):
            await ws.websocket.send(malformed)
            answer = await ws.frame()
            assert (answer["type"], answer["id"], answer["error"]) == (
                "error",
                None,
                "invalid_argument",
            )
        await ws.send({"id": 10, "method": "subscription.subscribe", "params": [1]})
        assert (await ws.frame())["error"] == "invalid_argument"


async def _refusal(url: str, thread_id: str, query: str = "", first: Any = None) -> int | None:
    """The close code of a socket that sends `first`, then a command."""
    async with socket(url, thread_id, query) as ws:
        if first is not None:
            await ws.send(first)
        with pytest.raises(ConnectionClosedError) as closed:
            await ws.subscribe()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def test_a_key_in_the_handshake_the_url_or_a_first_frame(
    keyed_url: str, api_keys: tuple[str, str]
) -> None:
    mine, theirs = api_keys
    thread_id = str(uuid4())
    async with socket(keyed_url, thread_id, f"?api_key={mine}") as ws:
        await ws.subscribe()
        _, started = await ws.ask("run.start", assistant_id="chat", input=_message(BOB))
        assert started["type"] == "success", started
        first = await ws.until_run_ends()
    async with socket(keyed_url, thread_id) as ws:
        await ws.send({"type": "auth", "api_key": mine})
        assert (await ws.subscribe(since=0))[0] == first
    async with socket(keyed_url, thread_id, additional_headers={"X-Api-Key": mine}) as ws:
        assert (await ws.subscribe(since=0))[0] == first
    # Another key's socket sees nothing of it.
    async with socket(keyed_url, thread_id, f"?api_key={theirs}") as ws:
        assert (await ws.subscribe(since=0))[0] == []

    # 4000 + 401: the JS SDK reports a 401 and does not try again.
    assert await _refusal(keyed_url, thread_id) == 4401
    assert await _refusal(keyed_url, thread_id, "?api_key=wrong") == 4401
    assert await _refusal(keyed_url, thread_id, first={"type": "auth", "api_key": "wrong"}) == 4401
    assert await _refusal(keyed_url, thread_id, first={"type": "auth"}) == 4401


async def test_the_sdk_sends_its_key_with_the_handshake(
    keyed_url: str, api_keys: tuple[str, str]
) -> None:
    key = {"X-Api-Key": api_keys[0]}
    async with (
        get_client(url=keyed_url, api_key=api_keys[0]) as sdk,
        sdk.threads.stream(assistant_id="chat", transport="websocket", headers=key) as thread,
    ):
        await thread.run.start(input=_message(BOB))
        output = await asyncio.wait_for(thread.output, DEADLINE)
    assert [m["content"] for m in output["messages"]] == [BOB, HELLO_BOB]


async def test_a_key_in_the_url_is_never_logged(
    scratch_dir: Path, database_url: str, openai_stub_url: str
) -> None:
    key = f"secret-{uuid4().hex}"
    env = server_environment(
        DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url, API_KEYS=key
    )
    thread_id = str(uuid4())
    async with chat_server_process(scratch_dir, env) as server:
        async with socket(server.url, thread_id, f"?api_key={key}&x=1") as ws:
            _, subscribed = await ws.subscribe()
            assert subscribed["type"] == "success"
        assert await _refusal(server.url, thread_id, f"?api_key={key}x") == 4401

    socket_lines = [line for line in server.log.splitlines() if "WebSocket" in line]
    redacted = f"{thread_id}/stream/events?api_key=[redacted]&x=1"
    assert any(redacted in line for line in socket_lines), socket_lines
    assert key not in server.log


async def test_a_socket_from_a_foreign_page_is_refused(client: httpx.AsyncClient) -> None:
    url, thread_id = _base(client), str(uuid4())
    with pytest.raises(InvalidStatus) as refused:
        async with socket(url, thread_id, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    assert b"evil.example" in refused.value.response.body

    # Its own pages and Studio's may.
    for page in (url, "https://smith.langchain.com"):
        async with socket(url, thread_id, origin=page) as ws:
            assert (await ws.subscribe())[1]["type"] == "success"
