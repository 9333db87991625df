from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from api.auth import UNAUTHORIZED, OwnerDep, get_owner
from api.deps import GraphDep, LocksDep, SaverDep, SessionsDep, SettingsDep, TurnsDep
from api.failures import Failure
from api.messages import MESSAGE_BODY, read_message
from api.sessions import decode_cursor, encode_cursor
from api.streaming import StreamPolicy, stream_response, wants_event_stream
from api.turns import thread_config

_STRING: dict[str, Any] = {"type": "string"}


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


ResponseDocs = dict[int | str, dict[str, Any]]


def _problem(description: str, model: type[BaseModel] = Problem) -> dict[str, Any]:
    return {"description": description, "model": model}


def _invalid(description: str) -> ResponseDocs:
    return {422: _problem(description, InvalidRequest)}


router = APIRouter(
    prefix="/chat",
    tags=["chat"],
    dependencies=[Depends(get_owner)],
    responses={
        401: {
            **_problem(UNAUTHORIZED[401]["description"]),
            "headers": {"WWW-Authenticate": {"description": "`Bearer`", "schema": _STRING}},
        },
        **_invalid("The request breaks the API's rules"),
        503: _problem("The database is unavailable"),
    },
)

NOT_FOUND: ResponseDocs = {404: _problem("No such session")}
MALFORMED_SESSION_ID = _invalid("The session id is not a UUID")

_ROLES: dict[str, Literal["user", "assistant"]] = {"human": "user", "ai": "assistant"}


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


def _no_such_session() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, "no such session")


def _chat_message(message: BaseMessage) -> ChatMessage | None:
    role = _ROLES.get(message.type)
    if role is None:
        return None
    # add_messages gives every message it stores an id.
    return ChatMessage(id=message.id or "", role=role, content=message.text)


def _wants_json(accept: str | None) -> bool:
    return accept is not None and "application/json" in accept.lower()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "description": "The new session's id",
            "content": {
                "text/plain": {"schema": _STRING},
                "application/json": {"schema": CreatedSession.model_json_schema()},
            },
            "headers": {"Location": {"description": "`/chat/<id>`", "schema": _STRING}},
        }
    },
    response_class=Response,
)
async def create_session(
    sessions: SessionsDep, owner: OwnerDep, accept: Annotated[str | None, Header()] = None
) -> Response:
    """A new session: its id as plain text, or as JSON when asked for."""
    session = await sessions.create(owner)
    headers = {"Location": f"/chat/{session.id}"}
    if _wants_json(accept):
        body = CreatedSession(session_id=session.id).model_dump(mode="json")
        return JSONResponse(body, status.HTTP_201_CREATED, headers)
    return PlainTextResponse(f"{session.id}\n", status.HTTP_201_CREATED, headers)


@router.post(
    "/{session_id}",
    openapi_extra={"requestBody": MESSAGE_BODY},
    responses={
        200: {
            "description": "The reply, token by token",
            "content": {
                "text/plain": {"schema": _STRING},
                "text/event-stream": {"schema": _STRING},
            },
        },
        400: _problem("The body is not valid UTF-8"),
        **NOT_FOUND,
        413: _problem(
            "The message is larger than MAX_MESSAGE_BYTES; the rest of the body goes unread"
        ),
        **_invalid(
            "The session id is not a UUID; or the message is empty, holds control characters "
            "or unpaired surrogates, or is not the string `message` of a JSON object"
        ),
        502: _problem("The model failed before its first token"),
        504: _problem("The model did not answer in time"),
    },
    response_class=Response,
)
async def send_message(
    session_id: UUID,
    request: Request,
    turns: TurnsDep,
    settings: SettingsDep,
    owner: OwnerDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Send a message; the reply streams back as plain text, or as SSE when asked for.

    Turns of one session run one at a time, in arrival order. Until the first token, a
    failure is an honest status code and leaves the session as it was.
    """
    message = await read_message(request, settings.max_message_bytes)
    turn = turns.start(session_id, owner, message)
    first = await turn.next_event()
    if isinstance(first, Failure):
        raise HTTPException(first.status, first.message)
    policy = StreamPolicy(settings.heartbeat_seconds, settings.on_disconnect)
    return stream_response(first, turn, event_stream=wants_event_stream(accept), policy=policy)


@router.get(
    "",
    responses={
        200: {"description": "A page of the caller's sessions, newest first"},
        **_invalid("A limit outside 1..100, or a malformed cursor"),
    },
)
async def list_sessions(
    sessions: SessionsDep,
    owner: OwnerDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Sessions per page")] = 20,
    cursor: Annotated[
        str | None, Query(description="The `next_cursor` of the previous page")
    ] = None,
) -> SessionPage:
    """The caller's sessions, newest first, a page at a time."""
    after = None
    if cursor is not None:
        try:
            after = decode_cursor(cursor)
        except ValueError:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "malformed cursor: pass the next_cursor of a previous page as it was given",
            ) from None
    # One row more than asked for tells whether there is a next page.
    rows = await sessions.page(owner, limit + 1, after)
    page = rows[:limit]
    return SessionPage(
        sessions=[SessionSummary(session_id=s.id, created_at=s.created_at) for s in page],
        next_cursor=encode_cursor(page[-1]) if len(rows) > limit else None,
    )


@router.get(
    "/{session_id}",
    responses={
        200: {"description": "The conversation, oldest message first"},
        **NOT_FOUND,
        **MALFORMED_SESSION_ID,
    },
)
async def get_conversation(
    session_id: UUID, sessions: SessionsDep, graph: GraphDep, owner: OwnerDep
) -> list[ChatMessage]:
    """The conversation so far, oldest message first: the user's and the assistant's only."""
    if not await sessions.exists(session_id, owner):
        raise _no_such_session()
    state = await graph.aget_state(thread_config(session_id))
    messages = (_chat_message(m) for m in state.values.get("messages", []))
    return [m for m in messages if m is not None]


@router.delete(
    "/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        204: {"description": "The session and its conversation are gone"},
        **NOT_FOUND,
        **MALFORMED_SESSION_ID,
    },
    response_class=Response,
)
async def delete_session(
    session_id: UUID,
    sessions: SessionsDep,
    saver: SaverDep,
    locks: LocksDep,
    owner: OwnerDep,
) -> Response:
    """Delete the session and its whole conversation; the id is unknown from then on.

    A turn running on the session finishes first, then its conversation goes too.
    """
    # Without the row, no new turn can start; the lock waits out a turn already running, whose
    # checkpoint would otherwise land after the thread's deletion and outlive the session.
    if not await sessions.delete(session_id, owner):
        raise _no_such_session()
    async with locks.hold(session_id):
        await saver.adelete_thread(str(session_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
