"""The pump every streaming front door shares: a turn's events, encoded, as they come."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from fastapi.sse import KEEPALIVE_COMMENT
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api.conversations import OnDisconnect, Turn, TurnEvent

logger = logging.getLogger("chat_server.streaming")

# Proxies such as nginx buffer responses unless told not to; a stream must not wait in a buffer.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# What an event stream says during a silence: a comment, which every SSE client skips.
HEARTBEAT = KEEPALIVE_COMMENT

# What a stream writes for an event; None stands for a silence of `heartbeat_seconds`.
Encoder = Callable[[TurnEvent | None], Iterable[bytes]]


@dataclass(frozen=True)
class StreamPolicy:
    heartbeat_seconds: float
    on_disconnect: OnDisconnect

    def with_on_disconnect(self, on_disconnect: OnDisconnect | None) -> StreamPolicy:
        """This policy, with the client's own choice of `on_disconnect` if it made one."""
        return self if on_disconnect is None else replace(self, on_disconnect=on_disconnect)


async def pump(turn: Turn, encode: Encoder, policy: StreamPolicy) -> AsyncIterator[bytes]:
    """The encoded events of `turn`, from the first not yet read to its end."""
    with turn.followed(policy.on_disconnect):
        async for event in turn.events(policy.heartbeat_seconds):
            for data in encode(event):
                yield data


class TurnStream(StreamingResponse):
    """A turn's stream, which ends with its turn's last event even when the server stops.

    uvicorn cancels the responses still open at the end of its graceful shutdown: that would cut
    the stream without a last event, and log the cancellation as a traceback. Instead the stream
    goes on until its turn ends: with its reply, or with the failure its turn reports when the
    shutdown's drain cancels it (`event: error`; the plain-text stream's last line).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.ensure_future(super().__call__(scope, receive, send))
        try:
            await asyncio.shield(streaming)
        except asyncio.CancelledError:
            if not streaming.done():
                logger.warning(
                    "the server stopped waiting for this stream: it ends with its turn, which is"
                    " cancelled if it outlasts the shutdown's grace"
                )
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
            # A second cancellation (the process ending for good) cuts the stream after all.
            await streaming


def sse_response(
    body: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    return TurnStream(
        body, headers={**STREAM_HEADERS, **(headers or {})}, media_type="text/event-stream"
    )


def text_response(
    body: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    return TurnStream(
        body, headers={**STREAM_HEADERS, **(headers or {})}, media_type="text/plain; charset=utf-8"
    )
