"""LangGraph's RemoteGraph on the server's sessions: the chat graph, run from another program."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client

from tests.support.chat_client import new_session, say

BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"


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
