"""A run's input, as the LangGraph clients send it, turned into the user's messages."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from langchain_core.messages import HumanMessage

from api.request_body import check_message
from api.routes.langgraph.requests import RunCreate

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


def _text_of(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for index, block in enumerate(content):
            if isinstance(block, str):
                texts.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    found = "missing" if "text" not in block else _json_type(text)
                    raise HTTPException(
                        422,
                        f"{where}.content.{index}.text: a text block's text must be a string, "
                        f"not {found}",
                    )
                texts.append(text)
            else:
                raise HTTPException(422, "a message may hold text only")
        return "".join(texts)
    raise HTTPException(422, "a message's content must be a string or a list of text blocks")


def _message(item: Any, where: str, max_bytes: int) -> HumanMessage:
    if isinstance(item, str):
        return HumanMessage(check_message(item, max_bytes))
    if not isinstance(item, dict) or "content" not in item:
        raise HTTPException(422, 'each input message must be {"role": "user", "content": ...}')
    kind = item.get("type", item.get("role"))
    if kind not in _USER:
        raise HTTPException(422, f"input messages must be the user's, not {kind!r}")
    check_message(_text_of(item["content"], where), max_bytes)
    message_id = item.get("id")
    if message_id is not None and not isinstance(message_id, str):
        raise HTTPException(422, "a message id must be a string")
    return HumanMessage(item["content"], id=message_id)


def input_messages(
    run: RunCreate, max_bytes: int, *, from_checkpoint: str | None = None
) -> list[HumanMessage]:
    """The user's messages of a run; a 422 for anything this graph cannot take. A run from a
    checkpoint may have none: it goes on from there (a regenerated reply)."""
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
    if from_checkpoint is not None and not messages:
        return []
    if isinstance(messages, str | dict):
        return [_message(messages, "input.messages", max_bytes)]
    if not isinstance(messages, list) or not messages:
        raise HTTPException(422, 'a run needs input: {"messages": [{"role": "user", ...}]}')
    return [_message(item, f"input.messages.{i}", max_bytes) for i, item in enumerate(messages)]
