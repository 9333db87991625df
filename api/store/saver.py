from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
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


_HEAD_SQL = """
SELECT checkpoint_id FROM checkpoints
WHERE thread_id = %s AND checkpoint_ns = ''
ORDER BY checkpoint_id DESC
LIMIT 1
"""


class LatestCheckpoints:
    """The latest checkpoint of the sessions this process used last, up to `size` of them.

    Only ever served after PostgreSQL confirms it is still the latest, so every process stays
    stateless: a turn taken by another process, or a deletion, simply misses here.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._tuples: OrderedDict[str, CheckpointTuple] = OrderedDict()

    def get(self, thread_id: str) -> CheckpointTuple | None:
        found = self._tuples.get(thread_id)
        if found is not None:
            self._tuples.move_to_end(thread_id)
        return found

    def remember(self, saved: CheckpointTuple) -> None:
        if self._size == 0:
            return
        thread_id = saved.config["configurable"]["thread_id"]
        self._tuples[thread_id] = saved
        self._tuples.move_to_end(thread_id)
        while len(self._tuples) > self._size:
            self._tuples.popitem(last=False)

    def forget(self, thread_id: str) -> None:
        self._tuples.pop(thread_id, None)


class PooledPostgresSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver without its saver-wide lock, for use over a connection pool.

    The upstream saver serializes every database call behind one asyncio.Lock, which a single
    shared connection needs; here each call checks out a connection of its own, so different
    sessions' turns reach the database side by side. Tables and rows are the upstream ones.
    """

    def __init__(self, pool: Pool, cached_sessions: int = 0) -> None:
        super().__init__(pool)  # type: ignore[arg-type]
        self._pool = pool
        self._latest = LatestCheckpoints(cached_sessions)

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

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        saved = await super().aput(config, checkpoint, metadata, new_versions)
        if saved["configurable"]["checkpoint_ns"] == "":
            parent = config["configurable"].get("checkpoint_id")
            parent_config: RunnableConfig | None = (
                {"configurable": {**saved["configurable"], "checkpoint_id": parent}}
                if parent
                else None
            )
            copy = {**checkpoint, "channel_values": dict(checkpoint["channel_values"])}
            self._latest.remember(
                CheckpointTuple(
                    config=saved,
                    checkpoint=copy,  # type: ignore[arg-type]
                    metadata=get_checkpoint_metadata(config, metadata),
                    parent_config=parent_config,
                    pending_writes=[],
                )
            )
        return saved

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        # A remembered checkpoint carries no pending writes: once it has some, read it afresh.
        self._latest.forget(config["configurable"]["thread_id"])
        await super().aput_writes(config, writes, task_id, task_path)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint asked for; the latest one of a session from memory when this process
        wrote or read it last and it is still the latest in PostgreSQL (one index lookup
        instead of reading and decoding the whole conversation)."""
        configurable = config["configurable"]
        thread_id = configurable["thread_id"]
        remembered = self._latest.get(thread_id)
        if (
            remembered is not None
            and not get_checkpoint_id(config)
            and configurable.get("checkpoint_ns", "") == ""
        ):
            if await self._head(thread_id) == remembered.config["configurable"]["checkpoint_id"]:
                return remembered
        found = await super().aget_tuple(config)
        if found is not None and not get_checkpoint_id(config) and not found.pending_writes:
            if found.config["configurable"].get("checkpoint_ns", "") == "":
                self._latest.remember(found)
        return found

    async def adelete_thread(self, thread_id: str) -> None:
        self._latest.forget(str(thread_id))
        await super().adelete_thread(thread_id)

    async def _head(self, thread_id: str) -> str | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_HEAD_SQL, (thread_id,))
            row = await cur.fetchone()
        return None if row is None else row["checkpoint_id"]

    async def keep_latest(self, thread_id: str) -> None:
        """Deletes all but the thread's latest checkpoint, which holds the whole conversation.

        What `aprune(strategy="keep_latest")` does for this graph (one namespace, no pending
        sends), in one statement instead of about ten. The caller holds the session's lock, so
        no turn writes to the thread meanwhile.
        """
        async with self._pool.connection() as conn:
            await conn.execute(_KEEP_LATEST_SQL, {"thread_id": thread_id})
