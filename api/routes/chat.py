from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from api.deps import SessionsDep, SettingsDep, TurnsDep
from api.failures import Failure
from api.messages import MESSAGE_BODY, read_message
from api.streaming import StreamPolicy, stream_response, wants_event_stream

router = APIRouter(prefix="/chat", tags=["chat"])

NOT_FOUND = {404: {"description": "No such session"}}


class CreatedSession(BaseModel):
    session_id: UUID


def _wants_json(accept: str | None) -> bool:
    return accept is not None and "application/json" in accept.lower()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "description": "The new session's id",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": CreatedSession.model_json_schema()},
            },
        }
    },
    response_class=Response,
)
async def create_session(
    sessions: SessionsDep, accept: Annotated[str | None, Header()] = None
) -> Response:
    """A new session: its id as plain text, or as JSON when asked for."""
    session = await sessions.create()
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
            "content": {"text/plain": {}, "text/event-stream": {}},
        },
        **NOT_FOUND,
        502: {"description": "The model failed before its first token"},
        503: {"description": "The database is unavailable"},
        504: {"description": "The model did not answer in time"},
    },
    response_class=Response,
)
async def send_message(
    session_id: UUID,
    request: Request,
    sessions: SessionsDep,
    turns: TurnsDep,
    settings: SettingsDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Send a message; the reply streams back as plain text, or as SSE when asked for.

    Turns of one session run one at a time, in arrival order. Until the first token, a
    failure is an honest status code and leaves the session as it was.
    """
    if not await sessions.exists(session_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    message = await read_message(request, settings.max_message_bytes)
    turn = turns.start(session_id, message)
    first = await turn.next_event()
    if isinstance(first, Failure):
        raise HTTPException(first.status, first.message)
    policy = StreamPolicy(settings.heartbeat_seconds, settings.on_disconnect)
    return stream_response(first, turn, event_stream=wants_event_stream(accept), policy=policy)
