from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.responses import StreamingResponse

from api.turns import Reply, Token, TurnEvent

logger = logging.getLogger("chat_server.streaming")

# Proxies such as nginx buffer responses unless told not to; a stream must not wait in a buffer.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
FAILED_MESSAGE = "the reply failed before it was complete"


@dataclass(frozen=True)
class _Encoding:
    token: Callable[[str], bytes]
    end: Callable[[str], bytes]
    error: Callable[[str], bytes]


def _sse(event: str, **data: str) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, ensure_ascii=False))


SSE = _Encoding(
    token=lambda content: _sse("token", content=content),
    end=lambda message_id: _sse("end", message_id=message_id),
    error=lambda message: _sse("error", message=message),
)

# Plain text is for people at a terminal: the reply itself, then a newline.
TEXT = _Encoding(
    token=str.encode,
    end=lambda _message_id: b"\n",
    error=lambda message: f"\n[error: {message}]\n".encode(),
)


async def encode(events: AsyncIterator[TurnEvent], encoding: _Encoding) -> AsyncIterator[bytes]:
    failed = False
    try:
        async for event in events:
            if isinstance(event, Token):
                yield encoding.token(event.content)
            elif isinstance(event, Reply):
                yield encoding.end(event.message_id)
    except Exception:
        # The status line is gone already: all that is left is to say so in the stream.
        logger.exception("turn failed while streaming")
        failed = True
    if failed:
        yield encoding.error(FAILED_MESSAGE)


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and "text/event-stream" in accept.lower()


def stream_response(events: AsyncIterator[TurnEvent], *, event_stream: bool) -> StreamingResponse:
    if event_stream:
        return EventSourceResponse(encode(events, SSE), headers=STREAM_HEADERS)
    return StreamingResponse(
        encode(events, TEXT), media_type="text/plain; charset=utf-8", headers=STREAM_HEADERS
    )
