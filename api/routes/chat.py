"""The curl API: sessions and their turns under /chat."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse
from langchain_core.messages import BaseMessage, HumanMessage

from api.auth import OwnerDep, get_owner
from api.deps import ConversationsDep, SettingsDep, StreamPolicyDep
from api.request_body import MESSAGE_BODY, read_message
from api.schemas import (
    COMMON,
    CREATED,
    MALFORMED_SESSION_ID,
    NOT_FOUND,
    REPLY,
    ChatMessage,
    CreatedSession,
    SessionPage,
    SessionSummary,
    decode_cursor,
    encode_cursor,
    invalid,
)
from api.streaming import sse_response
from api.streaming.chat import resumed_events, resumed_text, stream_response, wants_event_stream
from api.streaming.positions import parse_event_id
from api.streaming.pump import text_response
from graph.attachments import attachments

router = APIRouter(
    prefix="/chat", tags=["chat"], dependencies=[Depends(get_owner)], responses=COMMON
)

_ROLES: dict[str, Literal["user", "assistant"]] = {"human": "user", "ai": "assistant"}


def _shown(message: BaseMessage) -> str:
    """A message's text, then a line in place of each image or file it holds."""
    if isinstance(message.content, str):
        return message.content
    described = [attachment.describe() for attachment in attachments(message)]
    return "\n".join([message.text, *described] if message.text else described)


def chat_messages(messages: list[BaseMessage]) -> list[ChatMessage]:
    """The user's and the assistant's messages, as the /chat API shows them."""
    # add_messages gives every message it stores an id.
    return [
        ChatMessage(id=m.id or "", role=_ROLES[m.type], content=_shown(m))
        for m in messages
        if m.type in _ROLES
    ]


def _wants_json(accept: str | None) -> bool:
    return accept is not None and "application/json" in accept.lower()


@router.post("", status_code=status.HTTP_201_CREATED, responses=CREATED, response_class=Response)
async def create_session(
    conversations: ConversationsDep,
    owner: OwnerDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """A new session: its id as plain text, or as JSON when asked for."""
    session = await conversations.create(owner)
    assert session is not None  # a new random id is never taken
    headers = {"Location": f"/chat/{session.id}"}
    if _wants_json(accept):
        body = CreatedSession(session_id=session.id).model_dump(mode="json")
        return JSONResponse(body, status.HTTP_201_CREATED, headers)
    return PlainTextResponse(f"{session.id}\n", status.HTTP_201_CREATED, headers)


@router.post(
    "/{session_id}",
    openapi_extra={"requestBody": MESSAGE_BODY},
    responses=REPLY,
    response_class=Response,
)
async def send_message(
    session_id: UUID,
    request: Request,
    conversations: ConversationsDep,
    settings: SettingsDep,
    policy: StreamPolicyDep,
    owner: OwnerDep,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Send a message; the reply streams back as plain text, or as SSE when asked for.

    Turns of one session run one at a time, in arrival order. Until the first token, a
    failure is an honest status code and leaves the session as it was.
    """
    message = await read_message(request, settings.max_message_bytes)
    turn = conversations.start_turn(session_id, owner, [HumanMessage(message)])
    await turn.started()
    where = f"/threads/{session_id}/runs/{turn.run_id}"
    return stream_response(turn, where, event_stream=wants_event_stream(accept), policy=policy)


@router.get(
    "/{session_id}/stream",
    responses={
        200: {"description": "The reply being written, from its start or after Last-Event-ID"},
        204: {"description": "No reply is being written"},
        **NOT_FOUND,
        **MALFORMED_SESSION_ID,
    },
    response_class=Response,
)
async def resume_reply(
    session_id: UUID,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
    accept: Annotated[str | None, Header()] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """The reply being written now, from any replica: from its start (with the user's
    message first), or after the event `Last-Event-ID` names (the `id` of a reply's events,
    kept an hour): a client that lost its connection gets the rest, exactly once. 204 when no
    reply is being written."""
    await conversations.session(session_id, owner)
    run_id, after = None, None
    if last_event_id:
        run_id, _, position = last_event_id.partition("/")
        after = parse_event_id(position)
        if after is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "malformed Last-Event-ID: send the id of the last event received, as it was",
            )
    else:
        run_id = await conversations.running_run(session_id, owner)
        if run_id is None:
            return Response(status_code=status.HTTP_204_NO_CONTENT)
    events = conversations.run_events(session_id, owner, run_id, settings.heartbeat_seconds)
    if wants_event_stream(accept):
        return sse_response(resumed_events(events, run_id, after))
    return text_response(resumed_text(events))


@router.get(
    "",
    responses={
        200: {"description": "A page of the caller's sessions, newest first"},
        **invalid("A limit outside 1..100, or a malformed cursor"),
    },
)
async def list_sessions(
    conversations: ConversationsDep,
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
    rows = await conversations.page(owner, limit + 1, after)
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
    session_id: UUID, conversations: ConversationsDep, owner: OwnerDep
) -> list[ChatMessage]:
    """The conversation so far, oldest message first: the user's and the assistant's only."""
    conversation = await conversations.conversation(session_id, owner)
    return chat_messages(conversation.messages)


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
    session_id: UUID, conversations: ConversationsDep, owner: OwnerDep
) -> Response:
    """Delete the session and its whole conversation; the id is unknown from then on.

    A turn running on the session finishes first, then its conversation goes too.
    """
    await conversations.delete(session_id, owner)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
