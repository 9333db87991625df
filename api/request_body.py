from __future__ import annotations

import json
import re
from typing import Any

from fastapi import HTTPException, Request, status
from starlette.requests import ClientDisconnect

# Tab, newline and carriage return are text; every other control character (C0, DEL, C1)
# is refused.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A refusal before the end of the body closes the connection: otherwise the server would go on
# reading the rest of the body, only to throw it away, so as to keep the connection open.
_UNREAD_BODY = {"Connection": "close"}
# JSON may spell each character of the message as a six-byte escape.
_JSON_EXPANSION = 6
_JSON_OVERHEAD = 1024

MESSAGE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "text/plain": {"schema": {"type": "string", "minLength": 1}},
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["message"],
                "properties": {"message": {"type": "string", "minLength": 1}},
            }
        },
    },
}


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def _too_large(detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail, headers)


def _message_too_large(max_bytes: int) -> str:
    return f"the message is larger than {max_bytes} bytes"


async def _read_body(request: Request, limit: int, too_large: str) -> bytes:
    """The whole body, refused with a 413 as soon as it is known to be over `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(too_large, _UNREAD_BODY)
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise _too_large(too_large, _UNREAD_BODY)
    except ClientDisconnect:
        # No one is left to read the answer; it only keeps the cut-off upload from being a 500.
        raise HTTPException(400, "the body was cut off before its end") from None
    return bytes(body)


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text.removeprefix("\ufeff"))
    except ValueError as error:
        raise HTTPException(422, f"the body is not valid JSON: {error}") from None
    except RecursionError:
        raise HTTPException(422, "the body is not valid JSON: it is nested too deeply") from None


def _from_json(text: str) -> str:
    document = _parse_json(text)
    if not isinstance(document, dict) or not isinstance(document.get("message"), str):
        raise HTTPException(422, 'a JSON body must be an object: {"message": "..."}')
    return document["message"]


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the body is not valid UTF-8 text") from None


async def read_json(request: Request, max_bytes: int, extra_bytes: int = 0) -> Any:
    """A JSON body, whatever its Content-Type (LangGraph Studio sends JSON as text/plain);
    an empty body is an empty object. It may hold a message of `max_bytes`, and `extra_bytes`
    more (a run's attachments, in base64)."""
    limit = max_bytes * _JSON_EXPANSION + extra_bytes + _JSON_OVERHEAD
    text = _text(await _read_body(request, limit, f"the body is larger than {limit} bytes"))
    return _parse_json(text) if text.strip() else {}


async def read_message(request: Request, max_bytes: int) -> str:
    """The user's message: the raw body as UTF-8 text, or `message` of a JSON body."""
    as_json = _is_json(request)
    if as_json:
        limit = max_bytes * _JSON_EXPANSION + _JSON_OVERHEAD
        too_large = (
            f"the JSON body is larger than {limit} bytes: "
            f"more than a message of at most {max_bytes} bytes needs"
        )
    else:
        limit, too_large = max_bytes, _message_too_large(max_bytes)
    text = _text(await _read_body(request, limit, too_large))
    return check_message(_from_json(text) if as_json else text, max_bytes)


def check_message(message: str, max_bytes: int) -> str:
    """The message, if it keeps the rules every front door applies; else an HTTP 4xx."""
    check_text(message, max_bytes)
    if not message.strip():
        raise HTTPException(422, "the message is empty")
    return message


def check_text(text: str, max_bytes: int) -> str:
    """The text of a message, which may be empty when the message has attachments: within
    `max_bytes` of UTF-8, with no control characters; else an HTTP 4xx."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise HTTPException(422, "the message contains unpaired surrogates") from None
    if size > max_bytes:
        raise _too_large(_message_too_large(max_bytes))
    if _CONTROL_CHARACTERS.search(text):
        raise HTTPException(422, "the message contains control characters")
    return text
