"""The LangGraph Server API through LangGraph's own Python SDK, on the sessions of /chat."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

from devtools.openai_stub import StubBehaviour
from tests.support.chat_client import eventually, new_session, parse_sse, say
from tests.support.fakes import FakeChatModel
from tests.support.stored import stored_turns

ASSISTANT_ID = "eb6db400-e3c8-5d06-a834-015cb89efe69"
BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"


@pytest.fixture
async def sdk(client: httpx.AsyncClient) -> AsyncIterator[LangGraphClient]:
    async with get_client(url=str(client.base_url).rstrip("/"), api_key=None) as sdk:
        yield sdk


def _user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


async def _parts(sdk: LangGraphClient, thread_id: str | None, **kwargs: Any) -> list[StreamPart]:
    return [part async for part in sdk.runs.stream(thread_id, "chat", **kwargs)]


def _tokens(parts: list[StreamPart]) -> str:
    return "".join(part.data[0]["content"] for part in parts if part.event == "messages")


async def test_a_curl_session_is_a_thread(client: httpx.AsyncClient, sdk: LangGraphClient) -> None:
    session_id = await new_session(client)
    await say(client, session_id, BOB)

    found = await sdk.threads.search(metadata={"graph_id": "chat"}, limit=100)
    thread = next(t for t in found if t["thread_id"] == session_id)
    assert thread["metadata"]["assistant_id"] == ASSISTANT_ID
    assert thread["status"] == "idle"
    assert [m["content"] for m in thread["values"]["messages"]] == [BOB, HELLO_BOB]

    state = await sdk.threads.get_state(session_id)
    conversation = (await client.get(f"/chat/{session_id}")).json()
    assert [(m["id"], m["type"], m["content"]) for m in state["values"]["messages"]] == [
        (m["id"], {"user": "human", "assistant": "ai"}[m["role"]], m["content"])
        for m in conversation
    ]
    assert state["checkpoint"]["thread_id"] == session_id
    history = await sdk.threads.get_history(session_id, limit=10)
    assert history[0]["checkpoint"]["checkpoint_id"] == state["checkpoint"]["checkpoint_id"]


@pytest.mark.parametrize(
    "modes", [["messages-tuple"], ["values", "updates", "messages-tuple"]], ids=["tuple", "all"]
)
async def test_a_streamed_run_is_a_saved_turn(
    client: httpx.AsyncClient, sdk: LangGraphClient, modes: list[str]
) -> None:
    session_id = await new_session(client)
    created: list[str] = []
    parts = await _parts(
        sdk,
        session_id,
        input=_user(BOB),
        stream_mode=modes,
        on_run_created=lambda run: created.append(run["run_id"]),
    )

    assert parts[0].event == "metadata"
    assert parts[0].data == {"run_id": created[0], "attempt": 1}
    assert _tokens(parts) == HELLO_BOB
    chunks = [part.data[0] for part in parts if part.event == "messages"]
    assert len(chunks) > 3
    assert {c["type"] for c in chunks} == {"AIMessageChunk"}
    conversation = (await client.get(f"/chat/{session_id}")).json()
    assert [m["content"] for m in conversation] == [BOB, HELLO_BOB]
    assert {c["id"] for c in chunks} == {conversation[1]["id"]}
    assert {part.data[1]["langgraph_node"] for part in parts if part.event == "messages"} == {
        "model"
    }
    if "values" in modes:
        values = [part.data["messages"] for part in parts if part.event == "values"]
        assert [m["content"] for m in values[0]] == [BOB]
        assert [m["content"] for m in values[-1]] == [BOB, HELLO_BOB]
        updates = [part.data for part in parts if part.event == "updates"]
        assert [list(u) for u in updates] == [["model"]]


async def test_wait_returns_the_final_state(
    client: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    thread = await sdk.threads.create()
    final = await sdk.runs.wait(thread["thread_id"], "chat", input=_user(BOB))
    assert isinstance(final, dict)
    assert [m["type"] for m in final["messages"]] == ["human", "ai"]
    assert final["messages"][-1]["content"] == HELLO_BOB


async def test_a_thread_is_a_session(client: httpx.AsyncClient, sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create(metadata={"topic": "names"})
    thread_id = thread["thread_id"]
    await say(client, thread_id, BOB)
    assert await say(client, thread_id, "What's my name again?") == "Your name is Bob.\n"

    sessions = (await client.get("/chat", params={"limit": 100})).json()["sessions"]
    assert thread_id in {s["session_id"] for s in sessions}
    found = await sdk.threads.search(metadata={"topic": "names"})
    assert [t["thread_id"] for t in found] == [thread_id]
    assert found[0]["metadata"]["graph_id"] == "chat"


async def test_deleting_a_thread_deletes_the_session(
    client: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, BOB)
    await sdk.threads.delete(session_id)
    assert (await client.get(f"/chat/{session_id}")).status_code == 404
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await sdk.threads.get(session_id)
    assert refused.value.response.status_code == 404


@pytest.fixture
async def two_turns(
    client: httpx.AsyncClient, sdk: LangGraphClient
) -> tuple[str, list[dict[str, Any]]]:
    """A session of two turns, and its history."""
    session_id = await new_session(client)
    await say(client, session_id, BOB)
    await say(client, session_id, "What's my name again?")
    return session_id, list(await sdk.threads.get_history(session_id, limit=100))


async def test_history_walks_every_state_of_a_turn_newest_first(
    sdk: LangGraphClient, two_turns: tuple[str, list[dict[str, Any]]]
) -> None:
    session_id, history = two_turns
    # Three states a turn, as langgraph-api keeps them: the input, the user's message with the
    # model next, the reply.
    assert [(s["metadata"]["source"], s["next"]) for s in history] == [
        ("loop", []),
        ("loop", ["model"]),
        ("input", ["__start__"]),
    ] * 2
    assert [len(s["values"].get("messages", [])) for s in history] == [4, 3, 2, 2, 1, 0]
    for newer, older in itertools.pairwise(history):
        assert newer["parent_checkpoint"]["checkpoint_id"] == older["checkpoint"]["checkpoint_id"]
    # Paging with `before`, and a filter on the metadata.
    page = await sdk.threads.get_history(session_id, limit=2, before=history[1]["checkpoint"])
    assert [s["checkpoint"] for s in page] == [s["checkpoint"] for s in history[2:4]]
    inputs = await sdk.threads.get_history(session_id, metadata={"source": "input"})
    assert [s["checkpoint"] for s in inputs] == [history[2]["checkpoint"], history[5]["checkpoint"]]
    # Any state by its checkpoint.
    old = await sdk.threads.get_state(session_id, checkpoint=history[4]["checkpoint"])
    assert old["values"] == history[4]["values"]
    with pytest.raises(httpx.HTTPStatusError) as unknown:
        await sdk.threads.get_state(
            session_id, checkpoint_id="1f000000-0000-6000-8000-000000000000"
        )
    assert unknown.value.response.status_code == 404


async def test_regenerate_and_edit_fork_a_new_branch_that_the_session_follows(
    client: httpx.AsyncClient, sdk: LangGraphClient, two_turns: tuple[str, list[dict[str, Any]]]
) -> None:
    session_id, history = two_turns
    model_next = history[1]  # the second message, with the model still to answer it
    before_message = history[2]  # the input checkpoint of the second turn

    # Regenerate: no input, from the checkpoint whose next step is the model.
    parts = await _parts(
        sdk, session_id, checkpoint=model_next["checkpoint"], stream_mode="messages-tuple"
    )
    assert _tokens(parts) == "Your name is Bob."
    state = await sdk.threads.get_state(session_id)
    # Each state the run saved names it by the id its client saw.
    assert parts[0].event == "metadata"
    assert state["metadata"]["run_id"] == parts[0].data["run_id"]
    assert state["parent_checkpoint"]["checkpoint_id"] != history[0]["checkpoint"]["checkpoint_id"]
    assert [m["content"] for m in state["values"]["messages"]][-2:] == [
        "What's my name again?",
        "Your name is Bob.",
    ]

    # Edit: a new message from the checkpoint before the edited one.
    parts = await _parts(
        sdk,
        session_id,
        input=_user("Call me Alice"),
        checkpoint=before_message["checkpoint"],
        stream_mode="messages-tuple",
    )
    assert _tokens(parts) == "You said: Call me Alice"
    conversation = (await client.get(f"/chat/{session_id}")).json()
    assert [m["content"] for m in conversation] == [
        BOB,
        HELLO_BOB,
        "Call me Alice",
        "You said: Call me Alice",
    ]
    # /chat goes on from the new head.
    await say(client, session_id, "Thanks")
    assert len((await client.get(f"/chat/{session_id}")).json()) == 6
    # Every branch stays in the history: the first reply too.
    every = await sdk.threads.get_history(session_id, limit=1000)
    assert history[0]["checkpoint"] in [s["checkpoint"] for s in every]
    first_reply = await sdk.threads.get_state(session_id, checkpoint=history[0]["checkpoint"])
    assert first_reply["values"] == history[0]["values"]


async def test_a_run_from_a_checkpoint_the_thread_has_not_is_refused(
    client: httpx.AsyncClient, sdk: LangGraphClient, database_url: str
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, BOB)
    before = await stored_turns(database_url, session_id)
    other = await new_session(client)
    await say(client, other, BOB)
    elsewhere = (await sdk.threads.get_state(other))["checkpoint"]

    with pytest.raises(httpx.HTTPStatusError) as refused:
        await _parts(sdk, session_id, input=_user("Hello"), checkpoint=elsewhere)
    assert refused.value.response.status_code == 404
    assert "not in this thread's history" in refused.value.response.json()["detail"]
    # No input from the latest checkpoint: nothing is left to run.
    head = (await sdk.threads.get_state(session_id))["checkpoint"]
    parts = await _parts(sdk, session_id, checkpoint=head)
    [error] = [p.data for p in parts if p.event == "error"]
    assert "nothing to run" in error["message"]
    assert await stored_turns(database_url, session_id) == before


async def test_a_state_update_writes_a_new_head(
    client: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, BOB)
    first = (await sdk.threads.get_state(session_id))["values"]["messages"]

    edited = {**first[1], "content": "Hello Bob!"}
    update = await sdk.threads.update_state(session_id, {"messages": [edited]}, as_node="model")
    state = await sdk.threads.get_state(session_id)
    assert state["checkpoint"]["checkpoint_id"] == update["checkpoint"]["checkpoint_id"]
    assert [m["content"] for m in state["values"]["messages"]] == [BOB, "Hello Bob!"]
    assert state["metadata"]["source"] == "update"
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await sdk.threads.update_state(session_id, {"messages": []}, as_node="nowhere")
    assert refused.value.response.status_code == 422


async def test_reject_refuses_a_run_while_one_is_going_and_enqueue_waits(
    sdk: LangGraphClient, fake_model: FakeChatModel
) -> None:
    fake_model.gate = asyncio.Event()
    thread = await sdk.threads.create()
    first = sdk.runs.stream(thread["thread_id"], "chat", input=_user(BOB), stream_mode="values")
    running = asyncio.ensure_future(_drain(first))
    try:

        async def busy() -> bool:
            return (await sdk.threads.get(thread["thread_id"]))["status"] == "busy"

        await eventually(busy)
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await sdk.runs.wait(
                thread["thread_id"], "chat", input=_user("again"), multitask_strategy="reject"
            )
        assert refused.value.response.status_code == 409
        # Without a strategy, as langgraph-api, the run waits for the one going on.
        queued = asyncio.ensure_future(
            sdk.runs.wait(thread["thread_id"], "chat", input=_user("and again"))
        )
        await asyncio.sleep(0.2)
        assert not queued.done()
    finally:
        fake_model.gate.set()
        await running
    state = await queued
    assert [m["content"] for m in state["messages"]][-2:] == ["and again", "You said: and again"]
    assert (await sdk.threads.get(thread["thread_id"]))["status"] == "idle"


async def test_a_queued_run_answers_at_once_and_streams_once_its_turn_comes(
    client: httpx.AsyncClient, sdk: LangGraphClient, fake_model: FakeChatModel
) -> None:
    fake_model.gate = asyncio.Event()
    thread_id = (await sdk.threads.create())["thread_id"]
    first = sdk.runs.stream(thread_id, "chat", input=_user(BOB), stream_mode="values")
    running = asyncio.ensure_future(_drain(first))
    try:

        async def busy() -> bool:
            return (await sdk.threads.get(thread_id))["status"] == "busy"

        await eventually(busy)
        body = {"assistant_id": "chat", "input": _user("again"), "stream_mode": "messages-tuple"}
        # As langgraph-api: the status and headers while the first run still holds the thread,
        # so a client (or a proxy) is not left without an answer while the run waits its turn.
        async with (
            asyncio.timeout(30),
            client.stream("POST", f"/threads/{thread_id}/runs/stream", json=body) as queued,
        ):
            assert queued.status_code == 200
            assert await busy()
            fake_model.gate.set()
            events = parse_sse((await queued.aread()).decode())
    finally:
        fake_model.gate.set()
        await running
    tokens = [data[0]["content"] for name, data in events if name == "messages"]  # type: ignore[index]
    assert "".join(tokens) == "You said: again"


async def _drain(parts: AsyncIterator[StreamPart]) -> list[StreamPart]:
    return [part async for part in parts]


async def test_a_failure_mid_reply_is_an_error_event_and_stores_nothing(
    openai_app_url: str, stub_behaviour: StubBehaviour, database_url: str
) -> None:
    async with get_client(url=openai_app_url, api_key=None) as sdk:
        thread = await sdk.threads.create()
        stub_behaviour.cut_after_tokens = 2
        parts = await _parts(
            sdk, thread["thread_id"], input=_user(BOB), stream_mode="messages-tuple"
        )
        assert [p.event for p in parts][:1] == ["metadata"]
        assert parts[-1].event == "error"
        assert parts[-1].data["error"] == "ModelError"
        assert "model" in parts[-1].data["message"]
        assert _tokens(parts) == "Hello Bob!"
        assert await stored_turns(database_url, thread["thread_id"]) == []


async def test_a_failure_before_the_first_token_is_a_status(
    openai_app_url: str, stub_behaviour: StubBehaviour
) -> None:
    async with get_client(url=openai_app_url, api_key=None) as sdk:
        thread = await sdk.threads.create()
        stub_behaviour.fail_status = 500
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await sdk.runs.wait(thread["thread_id"], "chat", input=_user(BOB))
        assert refused.value.response.status_code == 502


async def test_keys_from_either_header_and_sessions_per_key(
    keyed_url: str, api_keys: tuple[str, str]
) -> None:
    first, second = api_keys
    async with (
        get_client(url=keyed_url, api_key=first) as mine,
        get_client(url=keyed_url, headers={"Authorization": f"Bearer {first}"}) as bearer,
        get_client(url=keyed_url, api_key=second) as theirs,
        get_client(url=keyed_url, api_key=None) as nobody,
    ):
        thread = await mine.threads.create()
        thread_id = thread["thread_id"]
        assert (await bearer.threads.get(thread_id))["thread_id"] == thread_id
        assert (
            _tokens(await _parts(bearer, thread_id, input=_user(BOB), stream_mode="messages-tuple"))
            == HELLO_BOB
        )
        with pytest.raises(httpx.HTTPStatusError) as other:
            await theirs.threads.get_state(thread_id)
        assert other.value.response.status_code == 404
        assert thread_id not in {t["thread_id"] for t in await theirs.threads.search(limit=100)}
        with pytest.raises(httpx.HTTPStatusError) as missing:
            await nobody.threads.search()
        assert missing.value.response.status_code == 401
