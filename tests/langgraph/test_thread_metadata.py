"""A thread is the graph's (`graph_id`, `assistant_id` in its metadata, found by them) once a
turn of it is saved, as a thread of `langgraph dev` is once a run is made on it: a thread whose
first message failed is no empty entry in Agent Chat UI's list."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

import httpx

from devtools.openai_stub import StubBehaviour
from tests.support.chat_client import new_session, say

ASSISTANT_ID = "eb6db400-e3c8-5d06-a834-015cb89efe69"
GRAPH = {"graph_id": "chat", "assistant_id": ASSISTANT_ID}
BOB = "Hi, my name is Bob!"
RUN = {"assistant_id": "chat", "input": {"messages": [{"role": "user", "content": BOB}]}}
# This module's own, so that no other test's threads are found by it.
TOPIC = {"topic": f"metadata-{uuid4().hex}"}


async def _found(http: httpx.AsyncClient, thread_id: str) -> dict[str, bool]:
    """Whether a search by each of the graph's ids finds the thread."""
    found = {}
    for key, value in GRAPH.items():
        body = {"metadata": {key: value}, "ids": [thread_id]}
        response = await http.post("/threads/search", json=body)
        found[key] = [t["thread_id"] for t in response.json()] == [thread_id]
    return found


async def _metadata(http: httpx.AsyncClient, thread_id: str) -> dict[str, Any]:
    response = await http.get(f"/threads/{thread_id}")
    assert response.status_code == 200, response.text
    return response.json()["metadata"]


async def _before_and_after_a_run(url: str) -> list[Any]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        created = (await http.post("/threads", json={"metadata": TOPIC})).json()
        thread_id = created["thread_id"]
        seen: list[Any] = [created["metadata"]]
        seen += [await _metadata(http, thread_id), await _found(http, thread_id)]
        assert (await http.post(f"/threads/{thread_id}/runs/wait", json=RUN)).status_code == 200
        seen += [await _metadata(http, thread_id), await _found(http, thread_id)]
        return seen


async def test_a_new_thread_is_the_graph_s_once_run_as_in_langgraph_dev(
    openai_app_url: str, langgraph_dev: str
) -> None:
    ours, theirs = await asyncio.gather(
        _before_and_after_a_run(openai_app_url), _before_and_after_a_run(langgraph_dev)
    )
    assert ours == theirs
    assert ours == [
        TOPIC,
        TOPIC,
        {"graph_id": False, "assistant_id": False},
        {**TOPIC, **GRAPH},
        {"graph_id": True, "assistant_id": True},
    ]


async def test_a_thread_whose_first_message_failed_is_not_listed(
    openai_app_url: str, stub_behaviour: StubBehaviour
) -> None:
    async with httpx.AsyncClient(base_url=openai_app_url, timeout=30) as http:
        thread_id = (await http.post("/threads", json={})).json()["thread_id"]
        session_id = await new_session(http)
        stub_behaviour.fail_status = 500
        failed = await http.post(f"/threads/{thread_id}/runs/wait", json=RUN)
        assert failed.status_code == 502
        assert (await http.post(f"/chat/{session_id}", content=BOB)).status_code == 502
        for unsaved in (thread_id, session_id):
            assert await _found(http, unsaved) == {"graph_id": False, "assistant_id": False}
            assert await _metadata(http, unsaved) == {}

        stub_behaviour.fail_status = None
        await say(http, session_id, BOB)
        assert await _found(http, session_id) == {"graph_id": True, "assistant_id": True}
        assert await _metadata(http, session_id) == GRAPH
        [thread] = (
            await http.post("/threads/search", json={"metadata": GRAPH, "ids": [session_id]})
        ).json()
        assert thread["values"]["messages"][0]["content"] == BOB


async def test_metadata_a_client_gave_is_found_with_or_without_a_turn(
    client: httpx.AsyncClient,
) -> None:
    # As langgraph-api finds it: the thread's own metadata, whatever it says.
    body = {"metadata": {"graph_id": "chat", **TOPIC}}
    thread_id = (await client.post("/threads", json=body)).json()["thread_id"]
    assert await _found(client, thread_id) == {"graph_id": True, "assistant_id": False}
    listed = await client.post("/threads/search", json={"ids": [thread_id]})
    assert [t["thread_id"] for t in listed.json()] == [thread_id]
