"""A thread's runs in PostgreSQL: every turn is one, whichever door started it.

A run is `pending` (waiting for its thread's lock), `running`, then `success`, `error` or
`interrupted` (cancelled). The process running it keeps renewing its lease; a run whose lease
ran out while it was still open belongs to a process that died or hung, and any replica may
settle it (`settle`): it is then `error`, and its turn's save, should the process wake up, is
refused (api/store/turn_save.py). `ended` says whether the run's last lifecycle event is in
the thread's events: a run saved by a process that died before it could say so is ended by
`settle` with the `completed` it had earned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from api.store.database import Pool
from api.store.lock_keys import SESSION_LOCK

RunStatus = Literal["pending", "running", "success", "error", "interrupted"]
OPEN: tuple[RunStatus, ...] = ("pending", "running")
CANCEL_CHANNEL = "chat_run_cancel"

# The status a run moves to (none: the run is left as it is), unless it is over already:
# then it keeps its own.
UPSERT = """
INSERT INTO chat_runs (run_id, thread_id, status, lease_until, ended)
SELECT %(run)s, s.id, %(status)s::text,
    clock_timestamp() + make_interval(secs => %(lease)s), %(ended)s
FROM chat_sessions s WHERE s.id = %(thread)s AND %(status)s::text IS NOT NULL
ON CONFLICT (run_id) DO UPDATE SET
    status = CASE WHEN chat_runs.status IN ('pending', 'running') THEN EXCLUDED.status
        ELSE chat_runs.status END,
    ended = chat_runs.ended OR EXCLUDED.ended,
    updated_at = clock_timestamp()
"""

# A run marked running by the statement that takes its session's lock (api/store/locks.py),
# with the backend that holds the lock: every replica sees it run the moment it does, at no
# statement of its own.
RUNNING_ON_LOCK = """run AS (
    INSERT INTO chat_runs (run_id, thread_id, status, lease_until, lock_holder)
    SELECT %(run)s, %(key)s::uuid, 'running',
        clock_timestamp() + make_interval(secs => %(lease)s), pg_backend_pid()
    FROM attempt WHERE attempt.locked AND %(run)s::text IS NOT NULL AND {present}
    ON CONFLICT (run_id) DO UPDATE SET status = 'running', lock_holder = EXCLUDED.lock_holder,
        lease_until = EXCLUDED.lease_until, updated_at = clock_timestamp()
    WHERE chat_runs.status = 'pending'
)"""

# The run's save: it succeeds only if the run is still open (not cancelled, not settled as
# dead by another replica); no row back means it is not.
SAVED = """
INSERT INTO chat_runs (run_id, thread_id, status, lease_until)
SELECT %(run)s, s.id, 'success', clock_timestamp() FROM chat_sessions s WHERE s.id = %(thread)s
ON CONFLICT (run_id) DO UPDATE SET status = 'success', updated_at = clock_timestamp()
WHERE chat_runs.status IN ('pending', 'running')
RETURNING status
"""

_COLUMNS = (
    "r.run_id, r.thread_id, r.status, r.created_at, r.updated_at, r.ended, r.metadata, r.kwargs"
)
_OWNED = "JOIN chat_sessions s ON s.id = r.thread_id AND s.owner = %(owner)s"

_GET = f"""
SELECT {_COLUMNS} FROM chat_runs r {_OWNED} WHERE r.thread_id = %(thread)s AND r.run_id = %(run)s
"""
_LIST = f"""
SELECT {_COLUMNS} FROM chat_runs r {_OWNED}
WHERE r.thread_id = %(thread)s AND (%(status)s::text IS NULL OR r.status = %(status)s)
ORDER BY r.created_at DESC LIMIT %(limit)s OFFSET %(offset)s
"""
_DESCRIBE = """
INSERT INTO chat_runs (run_id, thread_id, status, lease_until, metadata, kwargs)
SELECT %(run)s, s.id, 'pending', clock_timestamp() + make_interval(secs => %(lease)s),
    %(metadata)s, %(kwargs)s
FROM chat_sessions s WHERE s.id = %(thread)s
ON CONFLICT (run_id) DO UPDATE SET metadata = EXCLUDED.metadata, kwargs = EXCLUDED.kwargs
"""
_CANCEL = f"""
WITH cancelled AS (
    UPDATE chat_runs r SET status = 'interrupted', updated_at = clock_timestamp()
    FROM chat_sessions s
    WHERE s.id = r.thread_id AND s.owner = %(owner)s AND r.thread_id = %(thread)s
        AND r.run_id = %(run)s AND r.status IN ('pending', 'running')
    RETURNING r.run_id
)
SELECT run_id, pg_notify('{CANCEL_CHANNEL}', run_id) FROM cancelled
"""
_DELETE = """
DELETE FROM chat_runs r USING chat_sessions s
WHERE s.id = r.thread_id AND s.owner = %(owner)s AND r.thread_id = %(thread)s
    AND r.run_id = %(run)s AND (r.status NOT IN ('pending', 'running') OR r.ended)
RETURNING r.run_id
"""
# The thread's latest run that runs now.
_RUNNING = f"""
SELECT r.run_id FROM chat_runs r {_OWNED}
WHERE r.thread_id = %(thread)s AND r.status = 'running' AND NOT r.ended
ORDER BY r.created_at DESC LIMIT 1
"""
_RENEW = """
UPDATE chat_runs SET lease_until = clock_timestamp() + make_interval(secs => %(lease)s)
WHERE run_id = ANY(%(runs)s) AND NOT ended
"""
# The thread's open runs whose process stopped renewing their lease: an open one failed. A
# hung process still holds the session's lock: the connection that holds it is ended, so the
# session takes turns again (the hung process's save is refused all the same).
_SETTLE = f"""
WITH settled AS (
    UPDATE chat_runs SET
        status = CASE WHEN status IN ('pending', 'running') THEN 'error' ELSE status END,
        ended = true, updated_at = clock_timestamp()
    WHERE thread_id = %(thread)s AND NOT ended AND lease_until < clock_timestamp()
    RETURNING run_id, status, lock_holder
)
SELECT run_id, status, CASE WHEN lock_holder IS NOT NULL AND EXISTS (
        SELECT 1 FROM pg_locks WHERE pid = lock_holder AND {SESSION_LOCK.format(key="%(key)s")}
    ) THEN pg_terminate_backend(lock_holder) END AS ended_holder
FROM settled
"""


@dataclass(frozen=True)
class Run:
    run_id: str
    thread_id: UUID
    status: RunStatus
    created_at: datetime
    updated_at: datetime
    ended: bool
    metadata: dict[str, Any]
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Settled:
    """A run that `settle` ended: with `status` `error` if it died before it was saved."""

    run_id: str
    status: RunStatus


class Runs:
    def __init__(self, pool: Pool, lease_seconds: float) -> None:
        self._pool = pool
        self.lease_seconds = lease_seconds

    async def describe(
        self,
        thread_id: UUID,
        run_id: str,
        metadata: dict[str, Any],
        kwargs: dict[str, Any],
    ) -> None:
        """Keeps what the client said of a run (a background run, which it will look for)."""
        async with self._pool.connection() as conn:
            await conn.execute(
                _DESCRIBE,
                {
                    "run": run_id,
                    "thread": thread_id,
                    "lease": self.lease_seconds,
                    "metadata": Jsonb(metadata),
                    "kwargs": Jsonb(kwargs),
                },
            )

    async def get(self, thread_id: UUID, owner: str, run_id: str) -> Run | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_GET, {"thread": thread_id, "owner": owner, "run": run_id})
            row = await cur.fetchone()
        return None if row is None else Run(**row)

    async def page(
        self, thread_id: UUID, owner: str, limit: int, offset: int, status: str | None
    ) -> list[Run]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                _LIST,
                {
                    "thread": thread_id,
                    "owner": owner,
                    "limit": limit,
                    "offset": offset,
                    "status": status,
                },
            )
            return [Run(**row) for row in await cur.fetchall()]

    async def cancel(self, thread_id: UUID, owner: str, run_id: str) -> bool:
        """Marks an open run cancelled and tells every replica; False if it is not open."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_CANCEL, {"thread": thread_id, "owner": owner, "run": run_id})
            return await cur.fetchone() is not None

    async def delete(self, thread_id: UUID, owner: str, run_id: str) -> bool:
        """Deletes a run that is over; False if there is none such."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_DELETE, {"thread": thread_id, "owner": owner, "run": run_id})
            return await cur.fetchone() is not None

    async def running(self, thread_id: UUID, owner: str) -> str | None:
        """The id of the thread's run that runs now, if one does."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(_RUNNING, {"thread": thread_id, "owner": owner})
            row = await cur.fetchone()
        return None if row is None else str(row["run_id"])

    async def renew(self, run_ids: list[str]) -> None:
        if not run_ids:
            return
        async with self._pool.connection() as conn:
            await conn.execute(_RENEW, {"runs": run_ids, "lease": self.lease_seconds})

    async def settle(self, conn: AsyncConnection[DictRow], thread_id: UUID) -> list[Settled]:
        """Ends the thread's runs whose lease ran out, in the caller's transaction."""
        cur = await conn.execute(_SETTLE, {"thread": thread_id, "key": str(thread_id)})
        return [Settled(row["run_id"], row["status"]) for row in await cur.fetchall()]
