from __future__ import annotations

import json
import re
from typing import Any

from fastapi import HTTPException, Request, status

# Tab, newline and carriage return are text; every other control character is refused.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"the message is larger than {limit} bytes"
    )


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _from_json(body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise HTTPException(422, f"the body is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("message"), str):
        raise HTTPException(422, 'a JSON body must be an object: {"message": "..."}')
    return document["message"]


async def read_message(request: Request, max_bytes: int) -> str:
    """The user's message: the raw body as UTF-8 text, or `message` of a JSON body."""
    as_json = _is_json(request)
    body = await _read_body(
        request, max_bytes * _JSON_EXPANSION + _JSON_OVERHEAD if as_json else max_bytes
    )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "the body is not valid UTF-8 text") from None
    message = _from_json(body) if as_json else text
    try:
        size = len(message.encode("utf-8"))
    except UnicodeEncodeError:
        raise HTTPException(422, "the message contains unpaired surrogates") from None
    if size > max_bytes:
        raise _too_large(max_bytes)
    if not message.strip():
        raise HTTPException(422, "the message is empty")
    if _CONTROL_CHARACTERS.search(message):
        raise HTTPException(422, "the message contains control characters")
    return message
