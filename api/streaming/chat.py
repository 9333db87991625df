"""The /chat API's two forms of a turn's stream: SSE, and plain text for people at a terminal."""

from __future__ import annotations

import json
from collections.abc import Iterable

from fastapi.sse import format_sse_event
from starlette.responses import StreamingResponse

from api.conversations import Failure, Reply, Token, Turn, TurnEvent
from api.streaming.pump import HEARTBEAT, StreamPolicy, pump, sse_response, text_response


def _sse(event: str, **data: str) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, ensure_ascii=False))


def chat_sse(event: TurnEvent | None) -> Iterable[bytes]:
    if event is None:
        return (HEARTBEAT,)
    if isinstance(event, Token):
        # A chunk without text (the model's role or finish chunk) is no token of the reply.
        return (_sse("token", content=event.content),) if event.content else ()
    if isinstance(event, Reply):
        return (_sse("end", message_id=event.message_id),)
    if isinstance(event, Failure):
        return (_sse("error", message=event.message),)
    return ()  # the state as a whole is for the LangGraph API's clients


# The reply itself, then a newline; if the reply breaks off, a last line says so.
def chat_text(event: TurnEvent | None) -> Iterable[bytes]:
    if isinstance(event, Token):
        return (event.content.encode(),) if event.content else ()
    if isinstance(event, Reply):
        return (b"\n",)
    if isinstance(event, Failure):
        return (f"\n[error: the reply was cut off: {event.message}]\n".encode(),)
    return ()


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and "text/event-stream" in accept.lower()


def stream_response(turn: Turn, *, event_stream: bool, policy: StreamPolicy) -> StreamingResponse:
    if event_stream:
        return sse_response(pump(turn, chat_sse, policy))
    return text_response(pump(turn, chat_text, policy))
