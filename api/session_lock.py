from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import DictRow

from api.database import Pool


class SessionLocks:
    """One turn at a time per session, in arrival order, across every server process.

    Within a process, turns of one session queue on an asyncio lock (FIFO), so only the first
    of them holds a database connection. Across processes, a transaction-scoped advisory lock
    keyed on the session id: however the turn ends, even cancelled, the transaction ends and
    PostgreSQL releases the lock with it.
    """

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._local: dict[UUID, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def _local_turn(self, session_id: UUID) -> AsyncIterator[None]:
        lock, users = self._local.get(session_id, (asyncio.Lock(), 0))
        self._local[session_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._local[session_id]
            if users == 1:
                del self._local[session_id]
            else:
                self._local[session_id] = (lock, users - 1)

    @asynccontextmanager
    async def hold(self, session_id: UUID) -> AsyncIterator[AsyncConnection[DictRow]]:
        """Holds the session's lock; yields the connection that holds it, inside its transaction."""
        async with (
            self._local_turn(session_id),
            self._pool.connection() as conn,
            conn.transaction(),
        ):
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (str(session_id),)
            )
            yield conn
