"""LangGraph's RemoteGraph on the server's sessions: the chat graph, run from another program."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.pregel.remote import RemoteGraph
from langgraph.types import StateSnapshot
from langgraph_sdk import get_client

from tests.support.chat_client import new_session, say

BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"
QUESTION = "What's my name again?"
ANSWER = "Your name is Bob."


@pytest.fixture
async def remote(client: httpx.AsyncClient) -> AsyncIterator[RemoteGraph]:
    async with get_client(url=str(client.base_url).rstrip("/"), api_key=None) as sdk:
        yield RemoteGraph("chat", client=sdk)


def _config(session_id: str) -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": session_id}}


async def test_invoke_continues_a_curl_session(
    client: httpx.AsyncClient, remote: RemoteGraph
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, BOB)

    final = await remote.ainvoke(
        {"messages": [{"role": "user", "content": "What's my name again?"}]},
        _config(session_id),
    )
    assert [m["content"] for m in final["messages"]][-1] == "Your name is Bob."
    conversation = (await client.get(f"/chat/{session_id}")).json()
    assert [m["content"] for m in conversation] == [
        BOB,
        HELLO_BOB,
        "What's my name again?",
        "Your name is Bob.",
    ]


async def test_stream_gives_the_tokens(client: httpx.AsyncClient, remote: RemoteGraph) -> None:
    session_id = await new_session(client)
    tokens = []
    async for chunk, _metadata in remote.astream(
        {"messages": [{"role": "user", "content": BOB}]},
        _config(session_id),
        stream_mode="messages",
    ):
        tokens.append(chunk["content"])
    assert len(tokens) > 3
    assert "".join(tokens) == HELLO_BOB


async def test_state_and_history(client: httpx.AsyncClient, remote: RemoteGraph) -> None:
    session_id = await new_session(client)
    await say(client, session_id, BOB)

    state = await remote.aget_state(_config(session_id))
    assert [m["content"] for m in state.values["messages"]] == [BOB, HELLO_BOB]
    assert state.config["configurable"]["thread_id"] == session_id
    history = [s async for s in remote.aget_state_history(_config(session_id))]
    assert (
        history[0].config["configurable"]["checkpoint_id"]
        == (state.config["configurable"]["checkpoint_id"])
    )


async def test_get_graph(remote: RemoteGraph) -> None:
    graph = await remote.aget_graph()
    assert set(graph.nodes) == {"__start__", "model", "__end__"}
    assert {(e.source, e.target) for e in graph.edges} == {
        ("__start__", "model"),
        ("model", "__end__"),
    }


async def test_invoke_without_a_thread_keeps_nothing(
    client: httpx.AsyncClient, remote: RemoteGraph
) -> None:
    before = (await client.get("/chat", params={"limit": 100})).json()["sessions"]
    final = await remote.ainvoke({"messages": [{"role": "user", "content": BOB}]})
    assert final["messages"][-1]["content"] == HELLO_BOB
    after = (await client.get("/chat", params={"limit": 100})).json()["sessions"]
    assert after == before


@pytest.fixture
async def remote_on(server_url: str) -> AsyncIterator[RemoteGraph]:
    async with get_client(url=server_url, api_key=None) as sdk:
        yield RemoteGraph("chat", client=sdk)


def _user(text: str) -> dict[str, list[dict[str, str]]]:
    return {"messages": [{"role": "user", "content": text}]}


def _id(config: RunnableConfig | None) -> str | None:
    return None if config is None else config["configurable"]["checkpoint_id"]


def _contents(state: StateSnapshot) -> list[str]:
    return [m["content"] for m in state.values.get("messages", [])]


async def test_state_history_has_every_state_of_every_branch(remote_on: RemoteGraph) -> None:
    thread_id = (await remote_on.client.threads.create())["thread_id"]
    config = _config(thread_id)
    await remote_on.ainvoke(_user(BOB), config)
    await remote_on.ainvoke(_user(QUESTION), config)
    # Each state read as RemoteGraph reads it: its tasks with every key it looks up (id, name,
    # error, interrupts, state, checkpoint), its metadata as keyword arguments.
    turns = [s async for s in remote_on.aget_state_history(config, limit=100)]
    assert [(s.metadata["source"], s.next) for s in turns] == [
        ("loop", ()),
        ("loop", ("model",)),
        ("input", ("__start__",)),
    ] * 2
    assert [len(s.values.get("messages", [])) for s in turns] == [4, 3, 2, 2, 1, 0]
    assert [_id(s.parent_config) for s in turns] == [_id(s.config) for s in turns[1:]] + [None]
    assert [t.name for s in turns for t in s.tasks] == ["model", "__start__"] * 2
    model_next, input_state = turns[1], turns[2]

    # A fork goes through the run's own checkpoint_id: RemoteGraph leaves a config's out of the
    # run it sends (langgraph's _CONF_DROPLIST). No input: the reply again; input: an edit.
    regenerated = await remote_on.ainvoke(None, config, checkpoint_id=_id(model_next.config))
    assert regenerated["messages"][-1]["content"] == ANSWER
    edited = await remote_on.ainvoke(
        _user("Call me Alice"), config, checkpoint_id=_id(input_state.config)
    )
    assert [m["content"] for m in edited["messages"]][2:] == [
        "Call me Alice",
        "You said: Call me Alice",
    ]

    every = [s async for s in remote_on.aget_state_history(config, limit=100)]
    ids = [_id(s.config) for s in every]
    # Newest first, across branches; each state's parent among them, bar the first input's.
    assert ids == sorted(ids, reverse=True)
    assert len(every) == len(turns) + 2 + 3
    assert {_id(s.parent_config) for s in every} - set(ids) == {None}
    parents = {_id(s.config): _id(s.parent_config) for s in every}
    head = every[0]
    assert _contents(head)[2:] == ["Call me Alice", "You said: Call me Alice"]
    assert parents[parents[parents[_id(head.config)]]] == _id(input_state.config)
    fork = next(s for s in every if s.metadata["source"] == "fork")
    assert fork.next == ("model",) and parents[_id(fork.config)] == _id(model_next.config)
    # The state RemoteGraph.get_state reads at any of them is the one in the history.
    for state in (turns[0], fork):
        assert await remote_on.aget_state(state.config) == state


async def test_state_history_pages_with_before(
    remote: RemoteGraph, client: httpx.AsyncClient
) -> None:
    # Not held against langgraph dev: langgraph-api 0.16.7 answers this request with a 500, as
    # it hands the checkpoint RemoteGraph sends as `before` to the checkpointer, which wants a
    # config ({"configurable": ...}).
    session_id = await new_session(client)
    await say(client, session_id, BOB)
    await say(client, session_id, QUESTION)
    every = [s async for s in remote.aget_state_history(_config(session_id), limit=100)]
    page = [
        s
        async for s in remote.aget_state_history(
            _config(session_id), before=every[1].config, limit=3
        )
    ]
    assert [s.config for s in page] == [s.config for s in every[2:5]]


async def test_time_travel_as_langgraph_documents_it(remote_on: RemoteGraph) -> None:
    """A past state updated, then the graph run on from the new checkpoint with no input."""
    sdk = remote_on.client
    thread_id = (await sdk.threads.create())["thread_id"]
    config = _config(thread_id)
    await remote_on.ainvoke(_user(BOB), config)
    await remote_on.ainvoke(_user(QUESTION), config)
    # The states read through the SDK: this test is about the run from an updated state.
    model_next = (await sdk.threads.get_history(thread_id, limit=100))[1]
    question = model_next["values"]["messages"][-1]

    new_config = await remote_on.aupdate_state(
        {"configurable": model_next["checkpoint"]},
        {"messages": [{**question, "content": "Call me Alice"}]},
    )
    updated = await sdk.threads.get_state(thread_id)
    assert updated["checkpoint"]["checkpoint_id"] == _id(new_config)
    assert updated["next"] == ["model"]
    assert [m["content"] for m in updated["values"]["messages"]][2:] == ["Call me Alice"]
    # RemoteGraph sends the run without new_config's checkpoint_id: from the latest state.
    final = await remote_on.ainvoke(None, new_config)
    assert [m["content"] for m in final["messages"]][2:] == [
        "Call me Alice",
        "You said: Call me Alice",
    ]
