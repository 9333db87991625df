"""A run's input, as LangGraph clients spell it, read into the user's messages or refused."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage

from api.routes.langgraph.inputs import input_messages
from api.routes.langgraph.requests import RunCreate

MAX_BYTES = 64


def _run(**body: Any) -> RunCreate:
    return RunCreate.model_validate({"assistant_id": "chat", **body})


def _messages(messages: Any) -> list[HumanMessage]:
    return input_messages(_run(input={"messages": messages}), MAX_BYTES)


def _refusal(body: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(HTTPException) as refused:
        input_messages(_run(**body), MAX_BYTES)
    return refused.value.status_code, str(refused.value.detail)


@pytest.mark.parametrize(
    "messages",
    [
        "hello",
        {"role": "user", "content": "hello"},
        ["hello"],
        [{"role": "user", "content": "hello"}],
        [{"type": "human", "content": "hello"}],
        [{"role": "human", "content": [{"type": "text", "text": "hello"}]}],
        [{"role": "user", "content": ["hel", {"type": "text", "text": "lo"}]}],
    ],
    ids=["string", "one-dict", "list-of-string", "role-user", "type-human", "block", "parts"],
)
def test_each_spelling_of_a_user_message_is_read(messages: Any) -> None:
    [message] = _messages(messages)
    assert isinstance(message, HumanMessage)
    assert message.text == "hello"


def test_messages_keep_their_order_and_ids() -> None:
    read = _messages(
        [
            {"role": "user", "content": "first", "id": "m-1"},
            {"type": "human", "content": "second"},
        ]
    )
    assert [(m.text, m.id) for m in read] == [("first", "m-1"), ("second", None)]


_RUN_NEEDS_INPUT = (422, 'a run needs input: {"messages": [{"role": "user", ...}]}')
_USERS_ONLY = 'each input message must be {"role": "user", "content": ...}'
_TEXT_ONLY = (422, "a message may hold text only")
_CONTENT = (422, "a message's content must be a string or a list of text blocks")


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
        ({}, _RUN_NEEDS_INPUT),
        ({"input": None}, _RUN_NEEDS_INPUT),
        ({"input": {}}, _RUN_NEEDS_INPUT),
        ({"input": {"messages": []}}, _RUN_NEEDS_INPUT),
        ({"input": {"messages": 42}}, _RUN_NEEDS_INPUT),
        ({"input": {"question": "hello"}}, _RUN_NEEDS_INPUT),
        ({"input": {"messages": [42]}}, (422, _USERS_ONLY)),
        ({"input": {"messages": [{"role": "user"}]}}, (422, _USERS_ONLY)),
        (
            {"input": {"messages": [{"role": "assistant", "content": "hi"}]}},
            (422, "input messages must be the user's, not 'assistant'"),
        ),
        (
            {"input": {"messages": [{"type": "system", "content": "obey"}]}},
            (422, "input messages must be the user's, not 'system'"),
        ),
        (
            {"input": {"messages": [{"role": "user", "content": "hi", "id": 7}]}},
            (422, "a message id must be a string"),
        ),
        (
            {"input": {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}},
            _TEXT_ONLY,
        ),
        ({"input": {"messages": [{"role": "user", "content": [42]}]}}, _TEXT_ONLY),
        ({"input": {"messages": [{"role": "user", "content": []}]}}, _CONTENT),
        ({"input": {"messages": [{"role": "user", "content": 42}]}}, _CONTENT),
        ({"input": {"messages": [{"role": "user", "content": None}]}}, _CONTENT),
    ],
    ids=[
        "no-input",
        "null-input",
        "empty-input",
        "no-messages",
        "number-messages",
        "other-key",
        "number-message",
        "no-content",
        "assistant",
        "system",
        "number-id",
        "image",
        "number-block",
        "no-blocks",
        "number-content",
        "null-content",
    ],
)
def test_input_this_graph_cannot_take_is_422(
    body: dict[str, Any], refusal: tuple[int, str]
) -> None:
    assert _refusal(body) == refusal


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"command": {"resume": "yes"}}, "command"),
        ({"interrupt_before": "*"}, "interrupt_before"),
        ({"interrupt_after": ["model"]}, "interrupt_after"),
        ({"webhook": "https://example.com/hook"}, "webhook"),
        ({"after_seconds": 5}, "after_seconds"),
        ({"command": {"goto": "model"}, "webhook": "https://example.com/hook"}, "command, webhook"),
    ],
)
def test_what_the_server_would_ignore_is_refused_by_name(extra: dict[str, Any], named: str) -> None:
    body = {"input": {"messages": "hello"}, **extra}
    assert _refusal(body) == (422, f"not supported by this server: {named}")


@pytest.mark.parametrize("strategy", ["reject", "enqueue"])
def test_runs_may_wait_or_be_refused_while_another_runs(strategy: str) -> None:
    run = _run(input={"messages": "hello"}, multitask_strategy=strategy)
    assert [m.text for m in input_messages(run, MAX_BYTES)] == ["hello"]


@pytest.mark.parametrize("strategy", ["rollback", "interrupt"])
def test_a_run_may_not_cancel_the_running_one(strategy: str) -> None:
    status, detail = _refusal({"input": {"messages": "hello"}, "multitask_strategy": strategy})
    assert status == 422
    assert detail.startswith(f"multitask_strategy {strategy!r} is not supported")


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("", (422, "the message is empty")),
        (" \n\t", (422, "the message is empty")),
        ("bell\x07", (422, "the message contains control characters")),
        ("\ud800", (422, "the message contains unpaired surrogates")),
        ("é" * (MAX_BYTES // 2 + 1), (413, f"the message is larger than {MAX_BYTES} bytes")),
    ],
    ids=["empty", "blank", "control", "surrogate", "too-large"],
)
@pytest.mark.parametrize(
    "spell",
    [
        lambda text: text,
        lambda text: {"role": "user", "content": text},
        lambda text: [{"type": "human", "content": [{"type": "text", "text": text}]}],
    ],
    ids=["string", "dict", "block"],
)
def test_every_spelling_keeps_the_message_rules(
    spell: Any, text: str, refusal: tuple[int, str]
) -> None:
    assert _refusal({"input": {"messages": spell(text)}}) == refusal


def test_the_limit_is_on_a_message_s_blocks_together() -> None:
    half = "x" * (MAX_BYTES // 2)
    blocks = [{"type": "text", "text": half}, {"type": "text", "text": half}]
    assert _messages([{"role": "user", "content": blocks}])[0].text == half * 2
    blocks.append({"type": "text", "text": "x"})
    body = {"input": {"messages": [{"role": "user", "content": blocks}]}}
    assert _refusal(body) == (413, f"the message is larger than {MAX_BYTES} bytes")


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(text=st.text(max_size=40))
def test_the_spellings_of_one_message_are_read_alike(text: str) -> None:
    spellings = [
        text,
        {"role": "user", "content": text},
        [{"type": "human", "content": [{"type": "text", "text": text}]}],
    ]
    outcomes = set()
    for messages in spellings:
        try:
            outcomes.add(("read", _messages(messages)[0].text))
        except HTTPException as refused:
            outcomes.add(("refused", refused.status_code, refused.detail))
    assert len(outcomes) == 1, outcomes


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (42, "a number"),
        (1.5, "a number"),
        (True, "a boolean"),
        (None, "null"),
        (["hello"], "an array"),
        ({"text": "hello"}, "an object"),
    ],
    ids=["int", "float", "bool", "null", "list", "dict"],
)
def test_a_text_block_whose_text_is_not_a_string_is_refused(text: Any, found: str) -> None:
    content = [{"type": "text", "text": text}]
    assert _refusal({"input": {"messages": [{"role": "user", "content": content}]}}) == (
        422,
        f"input.messages.0.content.0.text: a text block's text must be a string, not {found}",
    )


def test_a_text_block_without_text_is_refused() -> None:
    body = {"input": {"messages": {"role": "user", "content": [{"type": "text"}]}}}
    assert _refusal(body) == (
        422,
        "input.messages.content.0.text: a text block's text must be a string, not missing",
    )


def test_the_refusal_names_the_block() -> None:
    second = [{"type": "text", "text": "hel"}, "lo", {"type": "text", "text": 0}]
    messages = [{"role": "user", "content": "first"}, {"type": "human", "content": second}]
    assert _refusal({"input": {"messages": messages}}) == (
        422,
        "input.messages.1.content.2.text: a text block's text must be a string, not a number",
    )
