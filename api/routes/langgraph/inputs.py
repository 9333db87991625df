"""A run's input, as the LangGraph clients send it, turned into the user's messages: text,
and the images and files beside it (`graph/attachments.py`), kept as they came."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from langchain_core.messages import HumanMessage

from api.request_body import check_message, check_text
from api.routes.langgraph.requests import RunCreate, check_storable
from graph.attachments import AttachmentError, read_attachment

_USER = {"user", "human"}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _text(block: dict[str, Any], at: str) -> str:
    text = block.get("text")
    if not isinstance(text, str):
        found = "missing" if "text" not in block else _json_type(text)
        raise HTTPException(422, f"{at}.text: a text block's text must be a string, not {found}")
    return text


def _check_content(content: Any, where: str, max_bytes: int, max_attachment_bytes: int) -> None:
    """Text within the rules of /chat, which may be empty beside attachments; attachments well
    formed and within `max_attachment_bytes` decoded."""
    if isinstance(content, str):
        check_message(content, max_bytes)
        return
    if not isinstance(content, list) or not content:
        raise HTTPException(
            422, f"{where}.content: must be a string or a non-empty list of content blocks"
        )
    texts, attached = [], 0
    for index, block in enumerate(content):
        at = f"{where}.content.{index}"
        if isinstance(block, str):
            texts.append(block)
            continue
        if not isinstance(block, dict):
            raise HTTPException(
                422, f"{at}: a content block must be an object or a string, not {_json_type(block)}"
            )
        try:
            # The text itself is held to the message rules below.
            check_storable({k: v for k, v in block.items() if k != "text"}, "a content block")
            attachment = read_attachment(block, verify=True)
        except AttachmentError as error:
            raise HTTPException(422, f"{at}{error.field}: {error}") from None
        except ValueError as error:
            raise HTTPException(422, f"{at}: {error}") from None
        if attachment is None:
            texts.append(_text(block, at))
        else:
            attached += attachment.size
    if attached > max_attachment_bytes:
        raise HTTPException(
            413,
            f"{where}: its attachments take {attached} bytes decoded, more than the "
            f"{max_attachment_bytes} a message may carry",
        )
    if attached:
        check_text("".join(texts), max_bytes)
    else:
        check_message("".join(texts), max_bytes)


def _message(item: Any, where: str, max_bytes: int, max_attachment_bytes: int) -> HumanMessage:
    if isinstance(item, str):
        return HumanMessage(check_message(item, max_bytes))
    if not isinstance(item, dict) or "content" not in item:
        raise HTTPException(422, 'each input message must be {"role": "user", "content": ...}')
    kind = item.get("type", item.get("role"))
    if kind not in _USER:
        raise HTTPException(422, f"input messages must be the user's, not {kind!r}")
    _check_content(item["content"], where, max_bytes, max_attachment_bytes)
    message_id = item.get("id")
    if message_id is not None and not isinstance(message_id, str):
        raise HTTPException(422, "a message id must be a string")
    try:
        check_storable(message_id, "a message id")
    except ValueError as error:
        raise HTTPException(422, f"{where}.id: {error}") from None
    return HumanMessage(item["content"], id=message_id)


def input_messages(
    run: RunCreate,
    max_bytes: int,
    max_attachment_bytes: int,
    *,
    from_checkpoint: str | None = None,
) -> list[HumanMessage]:
    """The user's messages of a run; a 422 for anything this graph cannot take. A run without
    input goes on from its checkpoint (a regenerated reply), or from the latest; one from a
    checkpoint may also send no messages."""
    refused = {
        "command": run.command,
        "interrupt_before": run.interrupt_before,
        "interrupt_after": run.interrupt_after,
        "webhook": run.webhook,
        "after_seconds": run.after_seconds,
    }
    if given := [name for name, value in refused.items() if value]:
        raise HTTPException(422, f"not supported by this server: {', '.join(given)}")
    if run.multitask_strategy not in ("reject", "enqueue"):
        raise HTTPException(
            422,
            f"multitask_strategy {run.multitask_strategy!r} is not supported: "
            "use 'reject' (409 while a run is going) or 'enqueue' (wait for it)",
        )
    messages = (run.input or {}).get("messages")
    if run.input is None or (from_checkpoint is not None and not messages):
        return []
    if isinstance(messages, str | dict):
        return [_message(messages, "input.messages", max_bytes, max_attachment_bytes)]
    if not isinstance(messages, list) or not messages:
        raise HTTPException(422, 'a run needs input: {"messages": [{"role": "user", ...}]}')
    return [
        _message(item, f"input.messages.{i}", max_bytes, max_attachment_bytes)
        for i, item in enumerate(messages)
    ]
