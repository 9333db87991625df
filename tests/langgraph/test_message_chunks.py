"""The model's chunks in a run's stream, as `langgraph dev` sends them: every chunk in
`messages-tuple`, the message so far in `messages`, from the first (empty, with the role) to the
last (empty, with why the reply ended). Both servers run the real ChatOpenAI against the stub."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support.chat_client import parse_sse
from tests.support.reference import same_metadata_keys, shape

BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"
# What a chunk says, apart from its id.
CHUNK_FIELDS = ("type", "content", "response_metadata", "usage_metadata", "chunk_position")


async def _run(url: str, modes: list[str]) -> list[tuple[str, Any]]:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        thread = (await http.post("/threads", json={})).json()
        body = {
            "assistant_id": "chat",
            "input": {"messages": [{"role": "user", "content": BOB}]},
            "stream_mode": modes,
        }
        response = await http.post(f"/threads/{thread['thread_id']}/runs/stream", json=body)
        assert response.status_code == 200, response.text
        return parse_sse(response.text)


def _said(message: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(message.get(field) for field in CHUNK_FIELDS)


async def _both(url: str, reference: str, modes: list[str]) -> tuple[list[Any], list[Any]]:
    ours, theirs = await asyncio.gather(_run(url, modes), _run(reference, modes))
    assert [name for name, _ in ours] == [name for name, _ in theirs]
    return ours, theirs


async def test_every_chunk_as_langgraph_dev_sends_it(
    openai_app_url: str, langgraph_dev: str
) -> None:
    ours, theirs = await _both(openai_app_url, langgraph_dev, ["messages-tuple"])

    chunks = [data for name, data in ours if name == "messages"]
    reference = [data for name, data in theirs if name == "messages"]
    assert [_said(c) for c, _ in chunks] == [_said(c) for c, _ in reference]
    (first, first_metadata), (last, last_metadata) = chunks[0], chunks[-1]
    assert first["content"] == "" and first["response_metadata"] == {"model_provider": "openai"}
    assert "".join(c["content"] for c, _ in chunks) == HELLO_BOB
    # The finish chunk, then langchain's empty closing one.
    assert chunks[-2][0]["response_metadata"]["finish_reason"] == "stop"
    assert last["chunk_position"] == "last"
    assert len({c["id"] for c, _ in chunks}) == 1
    for (chunk, metadata), (their_chunk, their_metadata) in zip(chunks, reference, strict=True):
        assert shape(chunk) == shape(their_chunk)
        assert same_metadata_keys(metadata, their_metadata)
    assert first_metadata["langgraph_node"] == last_metadata["langgraph_node"] == "model"


async def test_the_message_so_far_as_langgraph_dev_sends_it(
    openai_app_url: str, langgraph_dev: str
) -> None:
    ours, theirs = await _both(openai_app_url, langgraph_dev, ["messages"])

    assert [name for name, _ in ours] == ["metadata", "messages/metadata"] + [
        "messages/partial"
    ] * (len(ours) - 2)
    [(message_id, metadata)] = ours[1][1].items()
    [(_, their_metadata)] = theirs[1][1].items()
    assert same_metadata_keys(metadata["metadata"], their_metadata["metadata"])
    partial = [data[0] for name, data in ours if name == "messages/partial"]
    reference = [data[0] for name, data in theirs if name == "messages/partial"]
    assert [_said(m) for m in partial] == [_said(m) for m in reference]
    assert [shape(m) for m in partial] == [shape(m) for m in reference]
    assert partial[0]["content"] == "" and partial[-1]["content"] == HELLO_BOB
    assert partial[-1]["response_metadata"]["finish_reason"] == "stop"
    assert {m["id"] for m in partial} == {message_id}


async def test_asked_for_both_modes_it_sends_the_chunks_alone(
    openai_app_url: str, langgraph_dev: str
) -> None:
    ours, _ = await _both(openai_app_url, langgraph_dev, ["messages-tuple", "messages"])
    assert {name for name, _ in ours} == {"metadata", "messages"}
