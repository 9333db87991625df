"""The pump every streaming front door shares: a turn's events, encoded, as they come."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse
from starlette.responses import StreamingResponse

from api.conversations import OnDisconnect, Turn, TurnEvent

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


def sse_response(
    body: AsyncIterator[bytes], headers: Mapping[str, str] | None = None
) -> StreamingResponse:
    return EventSourceResponse(body, headers={**STREAM_HEADERS, **(headers or {})})
