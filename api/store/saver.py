from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row

from api.store.database import Pool

# Everything of a thread's root namespace but its latest checkpoint and the blob versions that
# checkpoint reads, in one statement: data-modifying CTEs share one snapshot and one commit.
_KEEP_LATEST_SQL = """
WITH latest AS (
    SELECT checkpoint_id, checkpoint -> 'channel_versions' AS versions
    FROM checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = ''
    ORDER BY checkpoint_id DESC
    LIMIT 1
), superseded_checkpoints AS (
    DELETE FROM checkpoints c USING latest
    WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = ''
    AND c.checkpoint_id <> latest.checkpoint_id
), superseded_writes AS (
    DELETE FROM checkpoint_writes w USING latest
    WHERE w.thread_id = %(thread_id)s AND w.checkpoint_ns = ''
    AND w.checkpoint_id <> latest.checkpoint_id
)
DELETE FROM checkpoint_blobs b USING latest
WHERE b.thread_id = %(thread_id)s AND b.checkpoint_ns = ''
AND (latest.versions ->> b.channel) IS DISTINCT FROM b.version
"""


class PooledPostgresSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver without its saver-wide lock, for use over a connection pool.

    The upstream saver serializes every database call behind one asyncio.Lock, which a single
    shared connection needs; here each call checks out a connection of its own, so different
    sessions' turns reach the database side by side. Tables and rows are the upstream ones.
    """

    def __init__(self, pool: Pool) -> None:
        super().__init__(pool)  # type: ignore[arg-type]
        self._pool = pool

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        async with self._pool.connection() as conn:
            if pipeline:
                async with (
                    conn.pipeline(),
                    conn.cursor(binary=True, row_factory=dict_row) as cur,
                ):
                    yield cur
            else:
                async with conn.cursor(binary=True, row_factory=dict_row) as cur:
                    yield cur

    async def keep_latest(self, thread_id: str) -> None:
        """Deletes all but the thread's latest checkpoint, which holds the whole conversation.

        What `aprune(strategy="keep_latest")` does for this graph (one namespace, no pending
        sends), in one statement instead of about ten. The caller holds the session's lock, so
        no turn writes to the thread meanwhile.
        """
        async with self._pool.connection() as conn:
            await conn.execute(_KEEP_LATEST_SQL, {"thread_id": thread_id})
