"""Event ids for a turn's SSE streams, so a client that lost its connection resumes with
`Last-Event-ID` and misses nothing and gets nothing twice: every event is named by the position
of the turn event it came from (the turn's first event is 1; 0 is what comes before it) and
its rank among the events that one gave (`7`, `7.1`). The same turn event has the same
position live and read back from the thread's events (api/conversations/replay.py), on any
replica, so ids are exact without any of them being stored."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

from fastapi.sse import format_sse_event

from api.conversations import TurnEvent
from api.streaming.pump import HEARTBEAT

EventId = tuple[int, int]
# A run's turn events read back, each with its position (0: the first); None: a silence.
Replayed = AsyncIterator[tuple[int, TurnEvent] | None]
# A turn event as an SSE stream names and writes it: (event, data) pairs.
Named = Callable[[TurnEvent], Iterable[tuple[str, str]]]


def format_event_id(event_id: EventId, prefix: str = "") -> str:
    position, rank = event_id
    return f"{prefix}{position}" if rank == 0 else f"{prefix}{position}.{rank}"


def parse_event_id(text: str, prefix: str = "") -> EventId | None:
    """The id `format_event_id` wrote, or None if `text` is not one."""
    if not text.startswith(prefix):
        return None
    position, _, rank = text.removeprefix(prefix).partition(".")
    if not position.isdigit() or not (rank.isdigit() or rank == ""):
        return None
    return int(position), int(rank or 0)


class Positioned:
    """An encoder for `pump` that gives every event its id, and leaves out those at or before
    `after` (what the client had already)."""

    def __init__(self, named: Named, *, prefix: str = "", after: EventId | None = None) -> None:
        self._named = named
        self._prefix = prefix
        self._after = after
        self._next = 1

    def __call__(self, event: TurnEvent | None) -> Iterable[bytes]:
        """Live: each event takes the next position."""
        if event is None:
            return (HEARTBEAT,)
        return self.at(self._next, event)

    def at(self, position: int, event: TurnEvent) -> list[bytes]:
        self._next = position + 1
        written = []
        for rank, (name, data) in enumerate(self._named(event)):
            event_id = (position, rank)
            if self._after is None or event_id > self._after:
                written.append(self.event(name, data, event_id))
        return written

    def event(self, name: str, data: str, event_id: EventId) -> bytes:
        return format_sse_event(
            event=name, data_str=data, id=format_event_id(event_id, self._prefix)
        )

    async def replay(self, events: Replayed) -> AsyncIterator[bytes]:
        """A run read back from its thread's events (Conversations.run_events), each event
        under its position, then live to its end."""
        async for replayed in events:
            if replayed is None:
                yield HEARTBEAT
                continue
            position, event = replayed
            for data in self.at(position + 1, event):
                yield data
