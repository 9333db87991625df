"""A turn's protocol events written to PostgreSQL as it runs: in batches, so that a token costs
no statement of its own. The first event of a silence goes at once; what comes while a batch
is being written, or within `FLUSH_SECONDS` of it, goes in the next."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

import psycopg

from api.conversations.handle import Turn
from api.conversations.protocol import ProtocolEncoder, ProtocolEvent
from api.store.thread_events import ThreadEvents

logger = logging.getLogger("chat_server.thread_events")

FLUSH_SECONDS = 0.05


class _Batches:
    def __init__(self, events: ThreadEvents, thread_id: UUID, run_id: str) -> None:
        self._events = events
        self._thread_id = thread_id
        self._run_id = run_id
        self._pending: list[ProtocolEvent] = []
        self._ready = asyncio.Event()
        self._closed = False

    def add(self, events: list[ProtocolEvent]) -> None:
        if events:
            self._pending.extend(events)
            self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def write_until_closed(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._pending = self._pending, []
            try:
                await self._events.append(self._thread_id, self._run_id, batch)
            except psycopg.Error:
                logger.warning(
                    "could not write %d event(s) of thread %s",
                    len(batch),
                    self._thread_id,
                    exc_info=True,
                )
                if self._closed:
                    return
                self._pending[:0] = batch  # written with the next batch
                self._ready.set()
            if self._closed and not self._pending:
                return
            await asyncio.sleep(FLUSH_SECONDS)


async def record(turn: Turn, events: ThreadEvents, thread_id: UUID, run_id: str) -> None:
    """Reads `turn` to its end, writing its protocol events as they come."""
    encode = ProtocolEncoder()
    batches = _Batches(events, thread_id, run_id)
    writer = asyncio.create_task(batches.write_until_closed())
    try:
        async for event in turn.events():
            assert event is not None  # no heartbeat asked for
            batches.add(list(encode(event)))
    finally:
        batches.close()
        await writer
