"""A thread's protocol events in PostgreSQL, the one bus between replicas: appended in batches,
each batch announced with a NOTIFY on `CHANNEL` (payload: the thread id), read by seq.

A session's events are numbered 1, 2, 3, ... by its `events_seq` counter: the UPDATE that
takes a batch's numbers locks the session's row until the batch commits, so two writers of one
thread (there is one at a time anyway: the turn holding the session lock) commit in seq order,
and a reader that saw seq n never sees a smaller one appear later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from api.store.database import Pool

logger = logging.getLogger("chat_server.thread_events")

CHANNEL = "chat_thread_events"

_APPEND = """
WITH counter AS (
    UPDATE chat_sessions SET events_seq = events_seq + %(n)s
    WHERE id = %(thread)s RETURNING events_seq
), appended AS (
    INSERT INTO chat_thread_events (thread_id, seq, run_id, method, data)
    SELECT %(thread)s, counter.events_seq - %(n)s + e.ord, %(run)s, e.method, e.data
    FROM counter,
        unnest(%(methods)s::text[], %(datas)s::jsonb[]) WITH ORDINALITY AS e(method, data, ord)
    RETURNING seq
)
SELECT pg_notify(%(channel)s, %(thread)s::text), (SELECT max(seq) FROM appended) AS last
"""

# Only the owner's: a stream of someone else's thread (or of one not made yet) reads nothing.
_READ = """
SELECT e.seq, e.run_id, e.method, e.data, e.created_at
FROM chat_thread_events e JOIN chat_sessions s ON s.id = e.thread_id AND s.owner = %(owner)s
WHERE e.thread_id = %(thread)s AND e.seq > %(after)s
ORDER BY e.seq LIMIT %(limit)s
"""

_BOUNDS = """
SELECT s.events_seq AS last, (SELECT min(seq) FROM chat_thread_events WHERE thread_id = s.id)
    AS first
FROM chat_sessions s WHERE s.id = %(thread)s AND s.owner = %(owner)s
"""

# Where the turn running now began: the seq before its `running`, if no end followed it.
_RUNNING_FROM = """
SELECT CASE WHEN data ->> 'event' = 'running' THEN seq - 1 END AS since
FROM chat_thread_events
WHERE thread_id = %(thread)s AND method = 'lifecycle'
ORDER BY seq DESC LIMIT 1
"""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    run_id: str
    method: str
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Bounds:
    """The last seq a thread's events were given, and the first still kept (None: none)."""

    last: int
    first: int | None

    def gap_after(self, since: int) -> bool:
        """Whether events after `since` were pruned already: a reader would miss them."""
        if since >= self.last:
            return False
        return self.first is None or self.first > since + 1


class ThreadEvents:
    def __init__(self, pool: Pool, retention_seconds: float) -> None:
        self._pool = pool
        self._retention_seconds = retention_seconds

    async def append(
        self, thread_id: UUID, run_id: str, events: Sequence[tuple[str, Any]]
    ) -> int | None:
        """Appends `(method, data)` events in order; the last seq given, or None if the
        session is gone."""
        if not events:
            return None
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _APPEND,
                {
                    "n": len(events),
                    "thread": thread_id,
                    "run": run_id,
                    "methods": [method for method, _ in events],
                    "datas": [Jsonb(data) for _, data in events],
                    "channel": CHANNEL,
                },
            )
            row = await cur.fetchone()
        return None if row is None else row["last"]

    async def read(
        self, thread_id: UUID, owner: str, after: int, limit: int = 500
    ) -> list[StoredEvent]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _READ, {"thread": thread_id, "owner": owner, "after": after, "limit": limit}
            )
            return [StoredEvent(**row) for row in await cur.fetchall()]

    async def bounds(self, thread_id: UUID, owner: str) -> Bounds:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_BOUNDS, {"thread": thread_id, "owner": owner})
            row = await cur.fetchone()
        return Bounds(0, None) if row is None else Bounds(row["last"], row["first"])

    async def running_from(self, thread_id: UUID) -> int | None:
        """The seq just before the running turn's first event; None when no turn runs."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_RUNNING_FROM, {"thread": thread_id})
            row = await cur.fetchone()
        return None if row is None else row["since"]

    async def prune(self) -> int:
        """Deletes the events older than the retention period; how many went."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM chat_thread_events"
                " WHERE created_at < clock_timestamp() - make_interval(secs => %s)",
                (self._retention_seconds,),
            )
            return cur.rowcount

    async def prune_forever(self, every_seconds: float) -> None:
        """Prunes now and every `every_seconds`, until cancelled; a failure waits for the next."""
        while True:
            try:
                await self.prune()
            except psycopg.Error:
                logger.warning("could not prune the thread events", exc_info=True)
            await asyncio.sleep(every_seconds)
