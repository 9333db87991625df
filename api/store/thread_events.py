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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from api.store.database import Pool
from api.store.runs import UPSERT, Runs, RunStatus, Settled

logger = logging.getLogger("chat_server.thread_events")

CHANNEL = "chat_thread_events"

# The batch comes as one JSON array of [method, data, turn_event]. The run's row moves along
# (api/store/runs.py UPSERT) in the same statement; a run settled
# by another replica (its process taken for dead) has its events refused from then on.
_APPEND = f"""
WITH run AS ({UPSERT}), counter AS (
    UPDATE chat_sessions SET events_seq = events_seq + %(n)s
    WHERE id = %(thread)s AND (NOT %(guarded)s OR NOT EXISTS (
        SELECT 1 FROM chat_runs WHERE run_id = %(run)s AND ended))
    RETURNING events_seq
), appended AS (
    INSERT INTO chat_thread_events (thread_id, seq, run_id, method, data, turn_event)
    SELECT %(thread)s, counter.events_seq - %(n)s + e.ord, %(run)s, e.event ->> 0, e.event -> 1,
        (e.event ->> 2)::int
    FROM counter, jsonb_array_elements(%(events)s) WITH ORDINALITY AS e(event, ord)
    RETURNING seq
)
SELECT pg_notify(%(channel)s, %(thread)s::text), (SELECT max(seq) FROM appended) AS last
"""

# Only the owner's: a stream of someone else's thread (or of one not made yet) reads nothing.
_COLUMNS = "e.seq, e.run_id, e.method, e.data, e.created_at, e.turn_event"
_OWNED = "JOIN chat_sessions s ON s.id = e.thread_id AND s.owner = %(owner)s"
_READ = f"""
SELECT {_COLUMNS} FROM chat_thread_events e {_OWNED}
WHERE e.thread_id = %(thread)s AND e.seq > %(after)s
ORDER BY e.seq LIMIT %(limit)s
"""
_READ_RUN = f"""
SELECT {_COLUMNS} FROM chat_thread_events e {_OWNED}
WHERE e.thread_id = %(thread)s AND e.run_id = %(run)s AND e.seq > %(after)s
ORDER BY e.seq LIMIT %(limit)s
"""

_BOUNDS = """
SELECT s.events_seq AS last, (SELECT min(seq) FROM chat_thread_events WHERE thread_id = s.id)
    AS first
FROM chat_sessions s WHERE s.id = %(thread)s AND s.owner = %(owner)s
"""

# Where the thread's latest run began (the seq before its `running`), if it runs still or
# ended within `recent` seconds.
_LATEST_RUN_FROM = """
SELECT e.seq - 1 AS since
FROM chat_thread_events e JOIN chat_runs r ON r.run_id = e.run_id
WHERE e.thread_id = %(thread)s AND e.method = 'lifecycle' AND e.data ->> 'event' = 'running'
    AND (NOT r.ended OR r.updated_at > clock_timestamp() - make_interval(secs => %(recent)s))
ORDER BY e.seq DESC LIMIT 1
"""


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    run_id: str
    method: str
    data: dict[str, Any]
    created_at: datetime
    # Which event of its run's turn it came from (api/conversations/recorder.py).
    turn_event: int | None = None


@dataclass(frozen=True)
class NewEvent:
    method: str
    data: dict[str, Any]
    turn_event: int | None = None


@dataclass(frozen=True)
class RunChange:
    """Where an append moves its run: to `status` (None: left as it is); `ended` once its last
    lifecycle event is among the events."""

    status: RunStatus | None
    ended: bool = False

    def then(self, later: RunChange) -> RunChange:
        """This change, then `later`, as one."""
        return RunChange(later.status or self.status, self.ended or later.ended)


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
    def __init__(self, pool: Pool, runs: Runs, retention_seconds: float) -> None:
        self._pool = pool
        self._runs = runs
        self._retention_seconds = retention_seconds

    async def append(
        self,
        thread_id: UUID,
        run_id: str,
        events: Sequence[NewEvent],
        change: RunChange = RunChange(None),
    ) -> int | None:
        """Appends the run's events in order and moves the run along; the last seq given, or
        None if nothing was appended (the session is gone, or the run was settled already)."""
        async with self._pool.connection() as conn:
            return await self._append(conn, thread_id, run_id, events, change, guarded=True)

    async def _append(
        self,
        conn: AsyncConnection[DictRow],
        thread_id: UUID,
        run_id: str,
        events: Sequence[NewEvent],
        change: RunChange,
        *,
        guarded: bool,
    ) -> int | None:
        cur = await conn.execute(
            _APPEND,
            {
                "n": len(events),
                "thread": thread_id,
                "run": run_id,
                "status": change.status,
                "ended": change.ended,
                "lease": self._runs.lease_seconds,
                "guarded": guarded,
                # One JSON document for the batch, [method, data, turn_event] an event: one
                # value to adapt rather than one per event.
                "events": Jsonb([(e.method, e.data, e.turn_event) for e in events]),
                "channel": CHANNEL,
            },
        )
        row = await cur.fetchone()
        return None if row is None else row["last"]

    async def settle(
        self, thread_id: UUID, endings: Callable[[Settled], Sequence[NewEvent]]
    ) -> list[Settled]:
        """Ends the thread's runs whose process stopped renewing their lease, each with the
        events `endings` gives it, in one transaction."""
        async with self._pool.connection() as conn, conn.transaction():
            settled = await self._runs.settle(conn, thread_id)
            for run in settled:
                await self._append(
                    conn, thread_id, run.run_id, endings(run), RunChange(None), guarded=False
                )
        return settled

    async def read_run(
        self, thread_id: UUID, owner: str, run_id: str, after: int = 0, limit: int = 2000
    ) -> list[StoredEvent]:
        """The run's events after seq `after`, in order."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _READ_RUN,
                {
                    "thread": thread_id,
                    "owner": owner,
                    "run": run_id,
                    "after": after,
                    "limit": limit,
                },
            )
            return [StoredEvent(**row) for row in await cur.fetchall()]

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

    async def latest_run_from(self, thread_id: UUID, recent_seconds: float) -> int | None:
        """The seq just before the first event of the thread's latest run, if it runs still or
        ended within `recent_seconds`; None otherwise."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _LATEST_RUN_FROM, {"thread": thread_id, "recent": recent_seconds}
            )
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
