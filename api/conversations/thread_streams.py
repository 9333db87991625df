"""A thread's event stream, through any replica: the turns started for it are recorded in
PostgreSQL (api/conversations/recorder.py), and every reader follows the thread there, woken by
the NOTIFY of each batch."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from api.conversations.handle import Turn
from api.conversations.recorder import record
from api.store.thread_events import StoredEvent, ThreadEvents
from api.store.thread_wakeups import ThreadWakeups

logger = logging.getLogger("chat_server.thread_events")


@dataclass(frozen=True)
class ResumeGap:
    """The events after `since` are pruned already from `min_available_seq` on."""

    since: int
    min_available_seq: int


class ThreadStreams:
    def __init__(self, events: ThreadEvents, wakeups: ThreadWakeups) -> None:
        self._events = events
        self._wakeups = wakeups
        self._recording: set[asyncio.Task[None]] = set()

    def record(self, turn: Turn, thread_id: UUID, run_id: str) -> None:
        """Records `turn`'s events from now on, in a task of its own."""
        task = asyncio.create_task(record(turn, self._events, thread_id, run_id))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def drain(self) -> None:
        """Waits for the recordings still going: their turns have ended or been cancelled."""
        await asyncio.gather(*self._recording, return_exceptions=True)

    async def last_seq(self, thread_id: UUID, owner: str) -> int:
        return (await self._events.bounds(thread_id, owner)).last

    async def follow(
        self, thread_id: UUID, owner: str, since: int | None, heartbeat_seconds: float
    ) -> AsyncIterator[StoredEvent | ResumeGap | None]:
        """The thread's events after `since`, then each as it comes, for as long as it is
        read; None once it is followed, and after each silence of `heartbeat_seconds`.
        Without `since`: from the start of the turn running now, or from now when none runs.
        A `ResumeGap` (and the end) if events after `since` are pruned already."""
        async with self._wakeups.watching(str(thread_id)) as wake:
            bounds = await self._events.bounds(thread_id, owner)
            if since is None:
                running_from = await self._events.running_from(thread_id)
                since = bounds.last if running_from is None else running_from
            elif bounds.gap_after(since):
                first = bounds.last + 1 if bounds.first is None else bounds.first
                yield ResumeGap(since, first)
                return
            yield None  # followed from here on: a client may start a turn and miss nothing
            while True:
                wake.clear()
                # Shielded: a client that leaves mid-read must not cancel the query, which
                # would cost the pool its connection.
                page = await asyncio.shield(self._events.read(thread_id, owner, since))
                for event in page:
                    yield event
                    since = event.seq
                if page:
                    continue
                try:
                    async with asyncio.timeout(heartbeat_seconds):
                        await wake.wait()
                except TimeoutError:
                    yield None
