"""A turn's protocol events written to PostgreSQL as it runs: in batches, so that a token costs
no statement of its own. A batch takes what comes within `FLUSH_SECONDS` of its first event,
or up to the turn's end, whichever is sooner: a short turn is one statement. The run's row
moves along in the same statements (pending, running, and whether its end is recorded); it
is marked running already by the statement that took its session's lock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from uuid import UUID

import psycopg

from api.conversations.events import Accepted, Queued, Reply, TurnEvent
from api.conversations.failures import Failure
from api.conversations.protocol import ProtocolEncoder
from api.store.thread_events import NewEvent, RunChange, ThreadEvents

logger = logging.getLogger("chat_server.thread_events")

FLUSH_SECONDS = 0.25


def _change(event: TurnEvent) -> RunChange | None:
    if isinstance(event, Queued):
        return RunChange("pending")
    if isinstance(event, Accepted):
        return RunChange("running")
    if isinstance(event, Failure):
        return RunChange("error", ended=True)
    if isinstance(event, Reply):
        return RunChange("success", ended=True)  # as its save made it
    return None


class Recording:
    """One turn's recording: `add` each of its events in order, `close` once it has ended.

    A turn refused before it began (its first event a failure) leaves no trace: to its thread,
    it never happened."""

    def __init__(self, events: ThreadEvents, thread_id: UUID, run_id: str) -> None:
        self.run_id = run_id
        self._events = events
        self._thread_id = thread_id
        self._encode = ProtocolEncoder()
        self._added = 0
        self._pending: list[NewEvent] = []
        self._change = RunChange(None)
        self._ready = asyncio.Event()
        self._ending = asyncio.Event()
        self._closed = False
        self._writer: asyncio.Task[None] | None = None
        self._cancel: Callable[[], object] | None = None

    @property
    def open(self) -> bool:
        """Whether its run has begun (queued or running) and not ended."""
        return self._writer is not None and not self._closed

    def on_cancel(self, cancel: Callable[[], object]) -> None:
        self._cancel = cancel

    def cancel(self) -> None:
        if self._cancel is not None and not self._closed:
            self._cancel()

    def add(self, event: TurnEvent) -> None:
        turn_event = self._added
        self._added += 1
        if self._writer is None:
            if isinstance(event, Failure) or self._closed:
                return
            self._writer = asyncio.create_task(self._write_until_closed())
        if (change := _change(event)) is not None:
            self._change = self._change.then(change)
        self._pending.extend(NewEvent(m, d, turn_event) for m, d in self._encode(event))
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()
        self._ending.set()

    async def finished(self) -> None:
        if self._writer is not None:
            await self._writer

    async def _write_until_closed(self) -> None:
        while True:
            await self._ready.wait()
            # What else comes within the flush time goes in the same batch, unless the turn
            # ends first.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_SECONDS):
                    await self._ending.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            change, self._change = self._change, RunChange(None)
            try:
                await self._events.append(self._thread_id, self.run_id, batch, change)
            except psycopg.Error:
                logger.warning(
                    "could not write %d event(s) of thread %s",
                    len(batch),
                    self._thread_id,
                    exc_info=True,
                )
                if self._closed:
                    return  # what is left is the settling's: the run's lease runs out
                self._pending[:0] = batch  # written with the next batch
                self._change = change.then(self._change)
                self._ready.set()
            if self._closed and not self._pending:
                return
