"""The classic run endpoints through LangGraph's Python SDK, on the same turns as every other
door: a background run read, listed, joined and streamed from its start or after a
Last-Event-ID, cancelled (nothing of it stored) and deleted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

from api.main import create_app
from api.settings import Settings
from devtools.replies import reply_to
from tests.support.chat_client import eventually
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve

BOB = "Hi, my name is Bob!"
INPUT = {"messages": [{"role": "user", "content": BOB}]}


@pytest.fixture
def gated() -> FakeChatModel:
    """A model that stops after its first token until the test lets it go on."""
    return FakeChatModel(gate=asyncio.Event())


@pytest.fixture
async def sdk(settings: Settings, gated: FakeChatModel) -> AsyncIterator[LangGraphClient]:
    async with (
        serve(create_app(settings, chat_model=gated)) as url,
        get_client(url=url, api_key=None) as sdk,
    ):
        yield sdk


async def _thread(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    return str(thread["thread_id"])


async def _until(sdk: LangGraphClient, thread_id: str, run_id: str, status: str) -> None:
    async def reached() -> bool:
        return (await sdk.runs.get(thread_id, run_id))["status"] == status

    await eventually(reached)


def _go_on(gated: FakeChatModel) -> None:
    assert gated.gate is not None
    gated.gate.set()


async def _stream(parts: AsyncIterator[StreamPart]) -> list[StreamPart]:
    return [part async for part in parts]


async def test_a_background_run_is_read_listed_and_joined(
    sdk: LangGraphClient, gated: FakeChatModel
) -> None:
    thread_id = await _thread(sdk)
    run = await sdk.runs.create(thread_id, "chat", input=INPUT, metadata={"from": "test"})
    assert run["status"] in ("pending", "running") and run["metadata"] == {"from": "test"}
    await _until(sdk, thread_id, run["run_id"], "running")
    [listed] = await sdk.runs.list(thread_id)
    assert listed["run_id"] == run["run_id"]

    _go_on(gated)
    joined: Any = await sdk.runs.join(thread_id, run["run_id"])
    assert [m["content"] for m in joined["messages"]] == [BOB, reply_to([BOB])]
    assert (await sdk.runs.get(thread_id, run["run_id"]))["status"] == "success"
    assert [r["status"] for r in await sdk.runs.list(thread_id, status="success")] == ["success"]


async def test_a_run_s_stream_resumes_after_last_event_id_exactly_once(
    sdk: LangGraphClient, gated: FakeChatModel
) -> None:
    thread_id = await _thread(sdk)
    run = await sdk.runs.create(
        thread_id, "chat", input=INPUT, stream_mode=["values", "messages-tuple"]
    )
    _go_on(gated)
    await sdk.runs.join(thread_id, run["run_id"])
    whole = await _stream(sdk.runs.join_stream(thread_id, run["run_id"]))
    assert [p.event for p in whole][:2] == ["metadata", "values"]
    assert all(p.id for p in whole) and len({p.id for p in whole}) == len(whole)

    cut = next(i for i, p in enumerate(whole) if p.event == "messages") + 2
    rest = await _stream(
        sdk.runs.join_stream(thread_id, run["run_id"], last_event_id=whole[cut].id)
    )
    assert [(p.event, p.id) for p in rest] == [(p.event, p.id) for p in whole[cut + 1 :]]
    text = "".join(p.data[0]["content"] for p in whole if p.event == "messages")
    assert text == reply_to([BOB])


async def test_a_live_run_stream_carries_the_ids_a_join_resumes_from(
    sdk: LangGraphClient, gated: FakeChatModel
) -> None:
    thread_id = await _thread(sdk)
    _go_on(gated)
    live = await _stream(
        sdk.runs.stream(thread_id, "chat", input=INPUT, stream_mode=["values", "messages-tuple"])
    )
    run_id = live[0].data["run_id"]
    joined = await _stream(sdk.runs.join_stream(thread_id, run_id))
    # Every chunk with text, and every state, under the same id live and joined.
    kept = {"values", "metadata"}
    assert [(p.event, p.id) for p in joined if p.event in kept] == [
        (p.event, p.id) for p in live if p.event in kept
    ], [(p.event, p.id) for p in joined]
    texts = {p.id: p.data[0]["content"] for p in live if p.event == "messages"}
    for part in joined:
        if part.event == "messages" and part.data[0]["content"]:
            assert texts[part.id] == part.data[0]["content"]


async def test_a_cancelled_run_stops_and_stores_nothing(
    sdk: LangGraphClient, gated: FakeChatModel
) -> None:
    thread_id = await _thread(sdk)
    run = await sdk.runs.create(thread_id, "chat", input=INPUT)
    await _until(sdk, thread_id, run["run_id"], "running")
    await sdk.runs.cancel(thread_id, run["run_id"], wait=True)

    assert (await sdk.runs.get(thread_id, run["run_id"]))["status"] == "interrupted"
    assert gated.cancelled == 1
    state: Any = await sdk.threads.get_state(thread_id)
    assert not state["values"]
    parts = await _stream(sdk.runs.join_stream(thread_id, run["run_id"]))
    assert parts[-1].event == "error"
    with pytest.raises(httpx.HTTPStatusError) as again:
        await sdk.runs.cancel(thread_id, run["run_id"])
    assert again.value.response.status_code == 409


async def test_a_run_is_deleted_once_it_has_ended(
    sdk: LangGraphClient, gated: FakeChatModel
) -> None:
    thread_id = await _thread(sdk)
    run = await sdk.runs.create(thread_id, "chat", input=INPUT)
    with pytest.raises(httpx.HTTPStatusError) as running:
        await sdk.runs.delete(thread_id, run["run_id"])
    assert running.value.response.status_code == 409
    _go_on(gated)
    await sdk.runs.join(thread_id, run["run_id"])
    await sdk.runs.delete(thread_id, run["run_id"])
    with pytest.raises(httpx.HTTPStatusError) as gone:
        await sdk.runs.get(thread_id, run["run_id"])
    assert gone.value.response.status_code == 404
    assert "no such run" in gone.value.response.text
    # The conversation stays: only the run's record went.
    state: Any = await sdk.threads.get_state(thread_id)
    assert len(state["values"]["messages"]) == 2


async def test_runs_of_an_unknown_thread_are_not_found(sdk: LangGraphClient) -> None:
    with pytest.raises(httpx.HTTPStatusError) as unknown:
        await sdk.runs.list(str(uuid4()))
    assert unknown.value.response.status_code == 404


async def test_a_run_started_on_one_replica_is_streamed_and_resumed_on_another(
    settings: Settings,
) -> None:
    gated = FakeChatModel(gate=asyncio.Event())
    async with (
        serve(create_app(settings, chat_model=gated)) as url_a,
        serve(create_app(settings, chat_model=FakeChatModel())) as url_b,
        get_client(url=url_a, api_key=None) as on_a,
        get_client(url=url_b, api_key=None) as on_b,
    ):
        thread_id = await _thread(on_a)
        run = await on_a.runs.create(thread_id, "chat", input=INPUT, stream_mode="messages-tuple")
        await _until(on_b, thread_id, run["run_id"], "running")
        # B follows the run live while A writes it; then a reader resumes on B after a cut.
        following = on_b.runs.join_stream(thread_id, run["run_id"])
        first = [await anext(following), await anext(following)]  # metadata, the first token
        assert [p.event for p in first] == ["metadata", "messages"]
        _go_on(gated)
        rest = await _stream(following)
        cut = await _stream(
            on_b.runs.join_stream(thread_id, run["run_id"], last_event_id=first[-1].id)
        )

    assert [p.id for p in cut] == [p.id for p in rest]
    text = "".join(p.data[0]["content"] for p in first + rest if p.event == "messages")
    assert text == reply_to([BOB])


async def test_a_thread_s_state_shows_the_turn_under_way(
    sdk: LangGraphClient, gated: FakeChatModel
) -> None:
    """A turn's checkpoints are saved at its end, but a client opening the thread mid-turn
    sees it under way, as langgraph-api shows it, and so knows to follow its stream."""
    thread_id = await _thread(sdk)
    run = await sdk.runs.create(thread_id, "chat", input=INPUT)
    await _until(sdk, thread_id, run["run_id"], "running")

    async def under_way() -> bool:
        state: Any = await sdk.threads.get_state(thread_id)
        return bool(state["next"])

    await eventually(under_way)
    state: Any = await sdk.threads.get_state(thread_id)
    assert [m["content"] for m in state["values"]["messages"]] == [BOB]
    assert state["next"] == ["model"] and [t["name"] for t in state["tasks"]] == ["model"]
    assert state["metadata"]["run_id"] == run["run_id"]

    _go_on(gated)
    await sdk.runs.join(thread_id, run["run_id"])
    done: Any = await sdk.threads.get_state(thread_id)
    assert done["next"] == [] and len(done["values"]["messages"]) == 2
