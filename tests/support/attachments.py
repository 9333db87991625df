"""Images and files as LangGraph's clients attach them to a message."""

from __future__ import annotations

import base64
from typing import Any

# A 1x1 PNG, and a PDF of one empty page.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6"
    "kgAAAABJRU5ErkJggg=="
)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PNG_BASE64 = base64.b64encode(PNG).decode()
PDF_BASE64 = base64.b64encode(PDF).decode()


def chat_ui_image(data: str = PNG_BASE64, name: str = "dot.png") -> dict[str, Any]:
    """An image as Agent Chat UI sends it (`fileToContentBlock`, @langchain/core 1.x)."""
    return {"type": "image", "mimeType": "image/png", "data": data, "metadata": {"name": name}}


def chat_ui_pdf(data: str = PDF_BASE64, filename: str = "report.pdf") -> dict[str, Any]:
    """A PDF as Agent Chat UI sends it; before @langchain/core 1.0 it said
    `"source_type": "base64", "mime_type": ...` instead of `mimeType` (`v0_pdf`)."""
    return {
        "type": "file",
        "mimeType": "application/pdf",
        "data": data,
        "metadata": {"filename": filename},
    }


def v0_pdf(data: str = PDF_BASE64, filename: str = "report.pdf") -> dict[str, Any]:
    return {
        "type": "file",
        "source_type": "base64",
        "mime_type": "application/pdf",
        "data": data,
        "metadata": {"filename": filename},
    }


def image_url(data: str = PNG_BASE64) -> dict[str, Any]:
    """An image as OpenAI's API (and so most Python clients) spell it."""
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


def user_message(*blocks: dict[str, Any], text: str | None = "What is this?") -> dict[str, Any]:
    content = [{"type": "text", "text": text}] if text is not None else []
    return {"role": "user", "content": [*content, *blocks]}


def run_with(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"assistant_id": "chat", "input": {"messages": list(messages)}}
