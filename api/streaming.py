from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event
from starlette.responses import StreamingResponse

from api.conversations import Failure, OnDisconnect, Reply, Token, Turn, TurnEvent

# Proxies such as nginx buffer responses unless told not to; a stream must not wait in a buffer.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass(frozen=True)
class _Encoding:
    token: Callable[[str], bytes]
    end: Callable[[str], bytes]
    error: Callable[[str], bytes]
    heartbeat: bytes | None


def _sse(event: str, **data: str) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, ensure_ascii=False))


SSE = _Encoding(
    token=lambda content: _sse("token", content=content),
    end=lambda message_id: _sse("end", message_id=message_id),
    error=lambda message: _sse("error", message=message),
    heartbeat=KEEPALIVE_COMMENT,
)

# Plain text is for people at a terminal: the reply itself, then a newline; if the reply
# breaks off, a last line says so.
TEXT = _Encoding(
    token=str.encode,
    end=lambda _message_id: b"\n",
    error=lambda message: f"\n[error: the reply was cut off: {message}]\n".encode(),
    heartbeat=None,
)


@dataclass(frozen=True)
class StreamPolicy:
    heartbeat_seconds: float
    on_disconnect: OnDisconnect


def _encode_one(event: TurnEvent | None, encoding: _Encoding) -> bytes | None:
    if event is None:
        return encoding.heartbeat
    if isinstance(event, Token):
        return encoding.token(event.content)
    if isinstance(event, Reply):
        return encoding.end(event.message_id)
    if isinstance(event, Failure):
        return encoding.error(event.message)
    return None  # the state as a whole is for the LangGraph API's clients


async def _encode(
    opening: list[TurnEvent], turn: Turn, encoding: _Encoding, policy: StreamPolicy
) -> AsyncIterator[bytes]:
    pending: list[TurnEvent | None] = list(opening)
    try:
        while True:
            for event in pending:
                if (data := _encode_one(event, encoding)) is not None:
                    yield data
            if turn.ended:
                return
            pending = [await turn.next_event(timeout=policy.heartbeat_seconds)]
    finally:
        # Reached early only when the client has gone.
        if not turn.ended and policy.on_disconnect == "cancel":
            turn.cancel()


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and "text/event-stream" in accept.lower()


def stream_response(
    opening: list[TurnEvent], turn: Turn, *, event_stream: bool, policy: StreamPolicy
) -> StreamingResponse:
    if event_stream:
        return EventSourceResponse(_encode(opening, turn, SSE, policy), headers=STREAM_HEADERS)
    return StreamingResponse(
        _encode(opening, turn, TEXT, policy),
        media_type="text/plain; charset=utf-8",
        headers=STREAM_HEADERS,
    )
