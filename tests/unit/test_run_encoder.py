"""A turn's events as a LangGraph client reads them from a run's stream, mode by mode."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage

from api.conversations import Accepted, Failure, Reply, Token, TurnEvent, Update, Values
from api.routes.langgraph.responses import GRAPH_METADATA
from api.streaming.runs import RunEncoder
from tests.support.chat_client import parse_sse

RUN = {**GRAPH_METADATA, "run_id": "run-1", "thread_id": "thread-1"}


def _stream(modes: set[str], *events: TurnEvent | None) -> str:
    encode = RunEncoder("run-1", "thread-1", modes)
    return b"".join(data for event in events for data in encode(event)).decode()


def _events(modes: set[str], *events: TurnEvent | None) -> list[tuple[str, Any]]:
    return parse_sse(_stream(modes, *events))


def _token(text: str, message_id: str = "reply-1", **fields: Any) -> Token:
    chunk = AIMessageChunk(content=text, id=message_id, **fields)
    return Token(text, chunk, {"langgraph_node": "model", "run_id": "the graph's"})


# How a model's reply streams: a role chunk and a finish chunk, both without text, around it.
ROLE = _token("", response_metadata={"model_provider": "openai"})
FINISH = _token(
    "",
    response_metadata={"finish_reason": "stop", "model_name": "gpt-4o-mini"},
    usage_metadata={"input_tokens": 9, "output_tokens": 2, "total_tokens": 11},
)


def test_values_and_updates_go_only_to_the_modes_that_asked() -> None:
    state = Values({"messages": [HumanMessage("hi", id="m-1")]})
    update = Update("model", {"messages": []})
    assert [name for name, _ in _events({"values"}, state, update)] == ["values"]
    assert [name for name, _ in _events({"updates"}, state, update)] == ["updates"]
    [(_, values)] = _events({"values"}, state)
    assert [(m["type"], m["content"], m["id"]) for m in values["messages"]] == [
        ("human", "hi", "m-1")
    ]
    [(_, updates)] = _events({"updates"}, update)
    assert updates == {"model": {"messages": []}}


def test_messages_tuple_sends_each_chunk_with_the_run_s_metadata() -> None:
    events = _events({"messages-tuple"}, _token("Hel"), _token("lo"))
    assert [name for name, _ in events] == ["messages", "messages"]
    assert [chunk["content"] for _, (chunk, _) in events] == ["Hel", "lo"]
    for _, (chunk, metadata) in events:
        assert chunk["type"] == "AIMessageChunk" and chunk["id"] == "reply-1"
        # The run's own ids win over the graph's.
        assert metadata == {"langgraph_node": "model", **RUN}


def test_messages_tuple_sends_the_chunks_without_text_too() -> None:
    events = _events({"messages-tuple"}, ROLE, _token("Hi"), FINISH)
    chunks = [chunk for _, (chunk, _) in events]
    assert [c["content"] for c in chunks] == ["", "Hi", ""]
    assert chunks[0]["response_metadata"] == {"model_provider": "openai"}
    assert chunks[-1]["response_metadata"]["finish_reason"] == "stop"
    assert chunks[-1]["usage_metadata"]["total_tokens"] == 11


def test_messages_sends_the_metadata_once_then_the_message_so_far() -> None:
    events = _events({"messages"}, ROLE, _token("Hel"), _token("lo"), _token("!"), FINISH)
    assert [name for name, _ in events] == ["messages/metadata"] + ["messages/partial"] * 5
    assert events[0][1] == {"reply-1": {"metadata": {"langgraph_node": "model", **RUN}}}
    partial = [data[0] for _, data in events[1:]]
    assert [m["content"] for m in partial] == ["", "Hel", "Hello", "Hello!", "Hello!"]
    # Whole messages so far, as langgraph-api sends them, not chunks.
    assert {m["type"] for m in partial} == {"ai"}
    assert "chunk_position" not in partial[0]
    assert partial[-1]["response_metadata"]["finish_reason"] == "stop"
    assert partial[-1]["usage_metadata"]["total_tokens"] == 11


def test_messages_keeps_two_messages_apart() -> None:
    events = _events({"messages"}, _token("a", "one"), _token("b", "two"), _token("c", "one"))
    partial = [data[0] for name, data in events if name == "messages/partial"]
    assert [(m["id"], m["content"]) for m in partial] == [("one", "a"), ("two", "b"), ("one", "ac")]
    assert [list(data) for name, data in events if name == "messages/metadata"] == [
        ["one"],
        ["two"],
    ]


def test_both_message_modes_at_once_send_the_chunks_only() -> None:
    # As langgraph-api does: `messages-tuple` asked for, it sends no `messages/partial`.
    names = [name for name, _ in _events({"messages", "messages-tuple"}, ROLE, _token("Hi"))]
    assert names == ["messages", "messages"]


def test_tokens_go_to_no_other_mode() -> None:
    assert _events({"values", "updates"}, _token("Hi")) == []


def test_text_is_sent_as_it_is_not_escaped() -> None:
    assert "über café 😀" in _stream({"messages-tuple"}, _token("über café 😀"))


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (404, "NotFound"),
        (409, "Conflict"),
        (500, "InternalError"),
        (502, "ModelError"),
        (503, "ServiceUnavailable"),
        (504, "ModelTimeout"),
    ],
)
def test_a_failure_is_an_error_event_in_every_mode(status: int, name: str) -> None:
    failure = Failure(status, "what went wrong")
    for modes in (set(), {"values"}, {"messages-tuple"}):
        assert _events(modes, failure) == [("error", {"error": name, "message": "what went wrong"})]


def test_a_silence_is_a_comment_and_the_end_and_acceptance_say_nothing() -> None:
    modes = {"values", "updates", "messages", "messages-tuple"}
    heartbeat = _stream(modes, None)
    # A line that starts with a colon is a comment, which every SSE client skips.
    assert heartbeat.startswith(":") and heartbeat.endswith("\n\n")
    assert "\n" not in heartbeat.removesuffix("\n\n")
    assert _stream(modes, Accepted(), Reply("reply-1")) == ""
