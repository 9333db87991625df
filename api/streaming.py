"""A turn's events written to the client as they come: the pump every streaming route shares,
and the /chat API's two forms of it (SSE and plain text)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass

from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event
from starlette.responses import StreamingResponse

from api.conversations import Failure, OnDisconnect, Reply, Token, Turn, TurnEvent

# Proxies such as nginx buffer responses unless told not to; a stream must not wait in a buffer.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

# What a stream writes for an event; None stands for a silence of `heartbeat_seconds`.
Encoder = Callable[[TurnEvent | None], Iterable[bytes]]


@dataclass(frozen=True)
class StreamPolicy:
    heartbeat_seconds: float
    on_disconnect: OnDisconnect


async def pump(
    opening: list[TurnEvent], turn: Turn, encode: Encoder, policy: StreamPolicy
) -> AsyncIterator[bytes]:
    """The encoded events of `turn`, from its opening events to its end."""
    pending: list[TurnEvent | None] = list(opening)
    try:
        while True:
            for event in pending:
                for data in encode(event):
                    yield data
            if turn.ended:
                return
            pending = [await turn.next_event(timeout=policy.heartbeat_seconds)]
    finally:
        # Reached early only when the client has gone.
        if not turn.ended and policy.on_disconnect == "cancel":
            turn.cancel()


def sse_response(
    body: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    return EventSourceResponse(body, headers={**STREAM_HEADERS, **(headers or {})})


def _sse(event: str, **data: str) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, ensure_ascii=False))


def _chat_sse(event: TurnEvent | None) -> Iterable[bytes]:
    if event is None:
        return (KEEPALIVE_COMMENT,)
    if isinstance(event, Token):
        return (_sse("token", content=event.content),)
    if isinstance(event, Reply):
        return (_sse("end", message_id=event.message_id),)
    if isinstance(event, Failure):
        return (_sse("error", message=event.message),)
    return ()  # the state as a whole is for the LangGraph API's clients


# Plain text is for people at a terminal: the reply itself, then a newline; if the reply
# breaks off, a last line says so.
def _chat_text(event: TurnEvent | None) -> Iterable[bytes]:
    if isinstance(event, Token):
        return (event.content.encode(),)
    if isinstance(event, Reply):
        return (b"\n",)
    if isinstance(event, Failure):
        return (f"\n[error: the reply was cut off: {event.message}]\n".encode(),)
    return ()


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and "text/event-stream" in accept.lower()


def stream_response(
    opening: list[TurnEvent], turn: Turn, *, event_stream: bool, policy: StreamPolicy
) -> StreamingResponse:
    if event_stream:
        return sse_response(pump(opening, turn, _chat_sse, policy))
    return StreamingResponse(
        pump(opening, turn, _chat_text, policy),
        media_type="text/plain; charset=utf-8",
        headers=STREAM_HEADERS,
    )
