"""A run's input, as LangGraph clients spell it, read into the user's messages or refused."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage

from api.routes.langgraph.inputs import input_messages
from api.routes.langgraph.requests import RunCreate
from api.settings import Settings
from tests.support.attachments import (
    PDF_BASE64,
    PNG,
    PNG_BASE64,
    chat_ui_image,
    chat_ui_pdf,
    image_url,
    user_message,
    v0_pdf,
)

MAX_BYTES = 64
MAX_ATTACHMENT_BYTES = Settings.model_fields["max_attachment_bytes"].default


def _run(**body: Any) -> RunCreate:
    return RunCreate.model_validate({"assistant_id": "chat", **body})


def _messages(messages: Any) -> list[HumanMessage]:
    return input_messages(_run(input={"messages": messages}), MAX_BYTES, MAX_ATTACHMENT_BYTES)


def _refusal(body: dict[str, Any]) -> tuple[int, str]:
    with pytest.raises(HTTPException) as refused:
        input_messages(_run(**body), MAX_BYTES, MAX_ATTACHMENT_BYTES)
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
_CONTENT = (422, "input.messages.0.content: must be a string or a non-empty list of content blocks")


@pytest.mark.parametrize(
    ("body", "refusal"),
    [
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
            {"input": {"messages": [{"role": "user", "content": [42]}]}},
            (
                422,
                "input.messages.0.content.0: a content block must be an object or a string, "
                "not a number",
            ),
        ),
        ({"input": {"messages": [{"role": "user", "content": []}]}}, _CONTENT),
        ({"input": {"messages": [{"role": "user", "content": 42}]}}, _CONTENT),
        ({"input": {"messages": [{"role": "user", "content": None}]}}, _CONTENT),
    ],
    ids=[
        "empty-input",
        "no-messages",
        "number-messages",
        "other-key",
        "number-message",
        "no-content",
        "assistant",
        "system",
        "number-id",
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


@pytest.mark.parametrize("body", [{}, {"input": None}, {"checkpoint_id": "c"}])
def test_a_run_without_input_goes_on_from_where_it_starts(body: dict[str, Any]) -> None:
    # As langgraph-api: from the latest checkpoint, or the one given (a regenerated reply).
    assert input_messages(_run(**body), MAX_BYTES, MAX_ATTACHMENT_BYTES) == []


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
    assert [m.text for m in input_messages(run, MAX_BYTES, MAX_ATTACHMENT_BYTES)] == ["hello"]


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


_WITH_TEXT = {"type": "text", "text": "What is this?"}
_HTTPS_PNG = "https://example.com/dot.png"


@pytest.mark.parametrize(
    "block",
    [
        image_url(),
        {"type": "image_url", "image_url": f"data:image/png;base64,{PNG_BASE64}"},
        {"type": "image_url", "image_url": {"url": _HTTPS_PNG, "detail": "low"}},
        {"type": "image", "source_type": "base64", "mime_type": "image/png", "data": PNG_BASE64},
        {"type": "image", "source_type": "url", "url": _HTTPS_PNG},
        {"type": "image", "base64": PNG_BASE64, "mime_type": "image/png"},
        {"type": "image", "url": _HTTPS_PNG},
        {"type": "image", "url": f"data:image/png;base64,{PNG_BASE64}"},
        chat_ui_image(),
        v0_pdf(),
        {"type": "file", "base64": PDF_BASE64, "mime_type": "application/pdf"},
        chat_ui_pdf(),
    ],
    ids=[
        "image_url",
        "image_url-string",
        "image_url-https",
        "v0-image",
        "v0-image-url",
        "v1-image",
        "v1-image-url",
        "v1-image-data-url",
        "chat-ui-image",
        "v0-file",
        "v1-file",
        "chat-ui-file",
    ],
)
def test_each_shape_of_an_attachment_is_kept_as_it_came(block: dict[str, Any]) -> None:
    [message] = _messages([{"role": "user", "content": [_WITH_TEXT, block], "id": "m-1"}])
    assert message.content == [_WITH_TEXT, block]
    assert (message.text, message.id) == ("What is this?", "m-1")


def test_a_message_may_be_attachments_alone() -> None:
    content = [chat_ui_image(), "", chat_ui_pdf()]
    assert _messages({"role": "user", "content": content})[0].content == content


def _block_refusal(block: Any) -> tuple[int, str]:
    return _refusal({"input": {"messages": [user_message(block)]}})


@pytest.mark.parametrize(
    ("block", "detail"),
    [
        (
            {"type": "audio", "base64": PNG_BASE64, "mime_type": "audio/wav"},
            ".type: block type 'audio' is not supported: a message may hold text, image_url, "
            "image, file blocks",
        ),
        (
            {"data": PNG_BASE64},
            ": a block without a type is not supported: a message may hold text, image_url, "
            "image, file blocks",
        ),
        (
            {"type": "image_url"},
            '.image_url: an image_url block needs "image_url": {"url": ...}',
        ),
        (
            {"type": "image_url", "image_url": {"url": 42}},
            ".image_url.url: an image_url block's url must be a string",
        ),
        (
            {"type": "image_url", "image_url": {"url": _HTTPS_PNG, "detail": "max"}},
            ".image_url.detail: detail must be one of auto, low, high",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png,%89PNG"}},
            ".image_url.url: a data URL must hold base64: data:<MIME type>;base64,<data>",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,"}},
            ".image_url.url: the data URL holds no data",
        ),
        (
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR!w=="}},
            ".image_url.url: the data is not valid base64",
        ),
        (
            {"type": "image_url", "image_url": "data:image/tiff;base64,SUkqAA=="},
            ".image_url: unsupported MIME type 'image/tiff': an image may be image/png, "
            "image/jpeg, image/gif, image/webp",
        ),
        (
            {"type": "image_url", "image_url": "file:///etc/passwd"},
            ".image_url: the URL of an image must be a data: URL or an http(s) URL",
        ),
        (
            {"type": "image", "mime_type": "image/png"},
            ': an image block needs its data: "base64" with "mime_type", or "url"',
        ),
        (
            {"type": "image", "source_type": "base64", "mime_type": "image/png"},
            ': an image block needs its data: "data"',
        ),
        (
            {"type": "image", "source_type": "url"},
            ': an image block of source_type "url" needs its "url"',
        ),
        (
            {"type": "image", "source_type": "id", "id": "file-123"},
            ".source_type: source_type 'id' is not supported: send base64 data or a URL",
        ),
        (
            {"type": "image", "base64": PNG_BASE64},
            ': an image block with base64 data needs its "mime_type"',
        ),
        (
            {"type": "image", "base64": "", "mime_type": "image/png"},
            ".base64: the data must be a non-empty string",
        ),
        (
            {"type": "image", "base64": PNG_BASE64[:-1], "mime_type": "image/png"},
            ".base64: the data is not valid base64",
        ),
        (
            {**chat_ui_image(), "data": PNG_BASE64.replace("i", "i\n", 1)},
            ".data: the data is not valid base64",
        ),
        (
            {**chat_ui_image(), "data": "ïVBOR" + PNG_BASE64[5:]},
            ".data: the data is not valid base64",
        ),
        (
            {**chat_ui_image(), "mimeType": "image/svg+xml"},
            ".mimeType: unsupported MIME type 'image/svg+xml': an image may be image/png, "
            "image/jpeg, image/gif, image/webp",
        ),
        (
            {**v0_pdf(), "mime_type": "text/html"},
            ".mime_type: unsupported MIME type 'text/html': a file may be application/pdf",
        ),
        (
            {**v0_pdf(), "mime_type": ["application/pdf"]},
            ".mime_type: the MIME type of a file must be a string",
        ),
        (
            {"type": "file", "url": "https://example.com/report.pdf"},
            ".url: a file must come as base64 data, not as a URL to fetch",
        ),
        (
            {**chat_ui_pdf(), "metadata": {"filename": "\ud800.pdf"}},
            ": text may not contain unpaired surrogates",
        ),
        (
            {**image_url(), "cache": 2**64},
            ": integers must fit in 64 bits",
        ),
        (
            # Stored, then every answer that showed it was a 500.
            {"type": "text", "text": "hi", "extras": {"note": "\udfff"}},
            ": text may not contain unpaired surrogates",
        ),
    ],
    ids=[
        "audio",
        "no-type",
        "no-image_url",
        "url-not-a-string",
        "bad-detail",
        "data-url-not-base64",
        "data-url-empty",
        "data-url-bad-base64",
        "data-url-tiff",
        "file-url",
        "no-data",
        "v0-no-data",
        "v0-no-url",
        "v0-id",
        "no-mime-type",
        "empty-data",
        "bad-padding",
        "line-break",
        "not-ascii",
        "svg",
        "html-file",
        "mime-type-not-a-string",
        "pdf-from-url",
        "surrogate",
        "huge-number",
        "text-block-surrogate",
    ],
)
def test_a_malformed_attachment_is_422_naming_where(block: dict[str, Any], detail: str) -> None:
    assert _block_refusal(block) == (422, f"input.messages.0.content.1{detail}")


def test_the_refusal_names_the_message_and_the_block() -> None:
    messages = [user_message(image_url()), user_message(chat_ui_image(), {"type": "video"})]
    assert _refusal({"input": {"messages": messages}}) == (
        422,
        "input.messages.1.content.2.type: block type 'video' is not supported: a message may "
        "hold text, image_url, image, file blocks",
    )


def test_text_beside_attachments_keeps_the_message_rules() -> None:
    body = {"input": {"messages": [user_message(image_url(), text="bell\x07")]}}
    assert _refusal(body) == (422, "the message contains control characters")
    body = {"input": {"messages": [user_message(image_url(), text="x" * (MAX_BYTES + 1))]}}
    assert _refusal(body) == (413, f"the message is larger than {MAX_BYTES} bytes")
    # The text limit counts the text alone: attachments have a limit of their own.
    [message] = _messages([user_message(image_url(), text="x" * MAX_BYTES)])
    assert message.text == "x" * MAX_BYTES


def _one_message(*blocks: dict[str, Any]) -> RunCreate:
    return _run(input={"messages": [user_message(*blocks)]})


def test_attachments_are_limited_per_message_by_their_decoded_bytes() -> None:
    limit = 2 * len(PNG)
    run = _one_message(image_url(), chat_ui_image())
    assert input_messages(run, MAX_BYTES, limit)
    with pytest.raises(HTTPException) as refused:
        input_messages(run, MAX_BYTES, limit - 1)
    assert (refused.value.status_code, refused.value.detail) == (
        413,
        f"input.messages.0: its attachments take {limit} bytes decoded, more than the "
        f"{limit - 1} a message may carry",
    )
    # Each message on its own.
    run = _run(input={"messages": [user_message(image_url()), user_message(image_url())]})
    assert len(input_messages(run, MAX_BYTES, len(PNG))) == 2


def test_the_default_limit_is_max_attachment_bytes() -> None:
    limit = MAX_ATTACHMENT_BYTES
    assert limit == 5 * 1024 * 1024
    at_limit = base64.b64encode(bytes(limit)).decode()
    assert _messages([user_message(chat_ui_pdf(at_limit))])
    over = base64.b64encode(bytes(limit + 1)).decode()
    assert _block_refusal(chat_ui_pdf(over))[0] == 413


def test_an_attachment_s_size_is_its_decoded_bytes() -> None:
    for size in range(1, 8):
        data = base64.b64encode(bytes(size)).decode()
        run = _one_message(chat_ui_pdf(data))
        assert input_messages(run, MAX_BYTES, size)
        with pytest.raises(HTTPException, match="more than the"):
            input_messages(run, MAX_BYTES, size - 1)


def test_a_message_id_must_be_storable() -> None:
    message = {"role": "user", "content": "hello", "id": "\udfff"}
    assert _refusal({"input": {"messages": [message]}}) == (
        422,
        "input.messages.0.id: text may not contain unpaired surrogates",
    )
