"""Attachments as the model is sent them, as /chat shows them, and as the window counts them."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from api.routes.chat import chat_messages
from graph.attachments import Attachment, for_model
from graph.builder import context_window
from tests.support.attachments import (
    PDF,
    PDF_BASE64,
    PNG_BASE64,
    chat_ui_image,
    chat_ui_pdf,
    image_url,
    v0_pdf,
)

_TEXT = {"type": "text", "text": "What is this?"}
_PNG_URL = "https://example.com/dot.png"
_STANDARD_PNG = {"type": "image", "base64": PNG_BASE64, "mime_type": "image/png"}
_STANDARD_PDF = {
    "type": "file",
    "base64": PDF_BASE64,
    "mime_type": "application/pdf",
    "filename": "report.pdf",
}


@pytest.mark.parametrize(
    ("block", "sent"),
    [
        (image_url(), image_url()),
        ({"type": "image_url", "image_url": f"data:image/png;base64,{PNG_BASE64}"}, image_url()),
        (chat_ui_image(), _STANDARD_PNG),
        (
            {
                "type": "image",
                "source_type": "base64",
                "mime_type": "image/png",
                "data": PNG_BASE64,
            },
            _STANDARD_PNG,
        ),
        ({"type": "image", "url": f"data:image/png;base64,{PNG_BASE64}"}, _STANDARD_PNG),
        (
            {"type": "image", "source_type": "url", "url": _PNG_URL},
            {"type": "image", "url": _PNG_URL},
        ),
        (chat_ui_pdf(), _STANDARD_PDF),
        (v0_pdf(), _STANDARD_PDF),
        (
            {"type": "file", "base64": PDF_BASE64, "mime_type": "application/pdf"},
            {**_STANDARD_PDF, "filename": "attachment.pdf"},
        ),
    ],
    ids=[
        "image_url",
        "image_url-string",
        "chat-ui-image",
        "v0-image",
        "data-url",
        "v0-image-url",
        "chat-ui-file",
        "v0-file",
        "unnamed-file",
    ],
)
def test_the_model_is_sent_each_attachment_in_langchain_s_standard_form(
    block: dict[str, Any], sent: dict[str, Any]
) -> None:
    stored = HumanMessage([_TEXT, block], id="m-1")
    [message] = for_model([stored])
    assert message.content == [_TEXT, sent]
    assert message.id == "m-1"
    assert stored.content == [_TEXT, block]  # the stored message is left as it was


def test_messages_without_attachments_are_sent_as_they_are() -> None:
    messages = [HumanMessage("hello"), AIMessage([{"type": "text", "text": "hi"}])]
    assert all(a is b for a, b in zip(for_model(messages), messages, strict=True))


@pytest.mark.parametrize(
    ("attachment", "shown"),
    [
        (Attachment("image", "image/png", data=PNG_BASE64), "[image: image/png, 70 B]"),
        (
            Attachment("file", "application/pdf", data=PDF_BASE64, filename="report.pdf"),
            f"[file: report.pdf, application/pdf, {len(PDF)} B]",
        ),
        (
            Attachment("image", "image/jpeg", data=base64.b64encode(bytes(12_595)).decode()),
            "[image: image/jpeg, 12.3 KiB]",
        ),
        (
            Attachment("file", "application/pdf", data=base64.b64encode(bytes(1 << 20)).decode()),
            "[file: application/pdf, 1.0 MiB]",
        ),
        (Attachment("image", url=_PNG_URL), f"[image: {_PNG_URL}]"),
    ],
    ids=["bytes", "named", "kib", "mib", "url"],
)
def test_an_attachment_is_shown_as_a_line(attachment: Attachment, shown: str) -> None:
    assert attachment.describe() == shown


def test_chat_shows_the_text_then_a_line_per_attachment() -> None:
    messages = [
        HumanMessage([_TEXT, chat_ui_image(), chat_ui_pdf()], id="u-1"),
        AIMessage("A dot and a report.", id="a-1"),
        HumanMessage([image_url()], id="u-2"),
    ]
    assert [m.content for m in chat_messages(messages)] == [
        f"What is this?\n[image: dot.png, image/png, 70 B]\n"
        f"[file: report.pdf, application/pdf, {len(PDF)} B]",
        "A dot and a report.",
        "[image: image/png, 70 B]",
    ]


def test_a_file_takes_the_window_an_image_does_not_its_base64() -> None:
    large = base64.b64encode(bytes(1 << 20)).decode()  # a megabyte: 350,000 tokens as characters
    conversation = [
        HumanMessage("Hi, my name is Bob!"),
        AIMessage("Hello Bob!"),
        HumanMessage([_TEXT, chat_ui_pdf(large)]),
    ]
    assert context_window(conversation, None, 200) == conversation
    with_image = [*conversation[:2], HumanMessage([_TEXT, chat_ui_image(large)])]
    assert context_window(with_image, None, 200) == with_image
