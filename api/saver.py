from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row

from api.database import Pool


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
