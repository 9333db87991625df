"""The /chat API's contract: bodies and the documented answers of each route."""

from __future__ import annotations

import base64
import struct
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from api.auth import UNAUTHORIZED
from api.conversations import Session

STRING: dict[str, Any] = {"type": "string"}
ResponseDocs = dict[int | str, dict[str, Any]]


class Problem(BaseModel):
    """What went wrong, in words."""

    detail: str


class FieldProblem(BaseModel):
    """A part of the request that failed validation, as FastAPI reports it."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidRequest(BaseModel):
    """A request that breaks the API's rules: said in words, or field by field."""

    detail: str | list[FieldProblem]


class CreatedSession(BaseModel):
    session_id: UUID


class ChatMessage(BaseModel):
    id: str
    role: Literal["user", "assistant"]
    content: str


class SessionSummary(BaseModel):
    session_id: UUID
    created_at: datetime


class SessionPage(BaseModel):
    sessions: list[SessionSummary]
    next_cursor: str | None


def problem(description: str, model: type[BaseModel] = Problem) -> dict[str, Any]:
    return {"description": description, "model": model}


def invalid(description: str) -> ResponseDocs:
    return {422: problem(description, InvalidRequest)}


COMMON: ResponseDocs = {
    401: {
        **problem(UNAUTHORIZED),
        "headers": {"WWW-Authenticate": {"description": "`Bearer`", "schema": STRING}},
    },
    **invalid("The request breaks the API's rules"),
    503: problem("The database is unavailable"),
}
NOT_FOUND: ResponseDocs = {404: problem("No such session")}
MALFORMED_SESSION_ID = invalid("The session id is not a UUID")

CREATED: ResponseDocs = {
    201: {
        "description": "The new session's id",
        "content": {
            "text/plain": {"schema": STRING},
            "application/json": {"schema": CreatedSession.model_json_schema()},
        },
        "headers": {"Location": {"description": "`/chat/<id>`", "schema": STRING}},
    }
}

REPLY: ResponseDocs = {
    200: {
        "description": "The reply, token by token",
        "content": {
            "text/plain": {"schema": STRING},
            "text/event-stream": {"schema": STRING},
        },
    },
    400: problem("The body is not valid UTF-8"),
    **NOT_FOUND,
    413: problem("The message is larger than MAX_MESSAGE_BYTES; the rest of the body goes unread"),
    **invalid(
        "The session id is not a UUID; or the message is empty, holds control characters "
        "or unpaired surrogates, or is not the string `message` of a JSON object"
    ),
    502: problem("The model failed before its first token"),
    504: problem("The model did not answer in time"),
}


# A cursor is the microseconds of created_at since the epoch, then the 16 bytes of the id.
_CURSOR = struct.Struct(">q16s")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(session: Session) -> str:
    """An opaque cursor that points just past `session` in the newest-first order."""
    micros = (session.created_at - _EPOCH) // timedelta(microseconds=1)
    raw = _CURSOR.pack(micros, session.id.bytes)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Session:
    """The session a cursor points past; ValueError if it is not a cursor `encode_cursor` made."""
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        micros, id_bytes = _CURSOR.unpack(raw)
        return Session(id=UUID(bytes=id_bytes), created_at=_EPOCH + timedelta(microseconds=micros))
    except (ValueError, struct.error, OverflowError) as error:
        raise ValueError("malformed cursor") from error
