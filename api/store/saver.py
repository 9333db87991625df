from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncCursor
from psycopg.rows import DictRow, dict_row

from api.store.database import Pool
from api.store.latest import DeltaChannels, LatestCheckpoints, checkpoint_id, with_values

# Everything of a thread's root namespace from before its newest full copy of the delta
# channels (`%(channels)s`, all of them copied in one checkpoint): the checkpoints after it, with
# the writes on them, are what the latest state is rebuilt from. Blobs go unless a kept checkpoint
# names their version. One statement: data-modifying CTEs share one snapshot and one commit.
_PRUNE_SQL = """
WITH boundary AS (
    SELECT checkpoint_id FROM checkpoints
    WHERE thread_id = %(thread_id)s AND checkpoint_ns = ''
    AND checkpoint -> 'channel_values' ?& %(channels)s
    ORDER BY checkpoint_id DESC
    LIMIT 1
), kept_versions AS (
    SELECT DISTINCT version.key AS channel, version.value #>> '{}' AS version
    FROM checkpoints c
    JOIN boundary ON c.checkpoint_id >= boundary.checkpoint_id
    CROSS JOIN jsonb_each(c.checkpoint -> 'channel_versions') AS version
    WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = ''
), superseded_checkpoints AS (
    DELETE FROM checkpoints c USING boundary
    WHERE c.thread_id = %(thread_id)s AND c.checkpoint_ns = ''
    AND c.checkpoint_id < boundary.checkpoint_id
), superseded_writes AS (
    DELETE FROM checkpoint_writes w USING boundary
    WHERE w.thread_id = %(thread_id)s AND w.checkpoint_ns = ''
    AND w.checkpoint_id < boundary.checkpoint_id
)
DELETE FROM checkpoint_blobs b
WHERE b.thread_id = %(thread_id)s AND b.checkpoint_ns = ''
AND EXISTS (SELECT 1 FROM boundary)
AND NOT EXISTS (
    SELECT 1 FROM kept_versions k WHERE k.channel = b.channel AND k.version = b.version
)
"""

# Set while upstream's aput sends one statement: its explicit pipeline would then cost a sync
# and more CPU than it saves (about a tenth of a one-token turn's, measured), for no round trip.
# Several statements (a full copy's blobs and its checkpoint) still share a pipeline.
_ONE_STATEMENT: ContextVar[bool] = ContextVar("one_statement", default=False)


def _is_primitive(value: object) -> bool:
    # What upstream's aput keeps inline in the checkpoint row instead of writing as a blob.
    return value is None or isinstance(value, str | int | float | bool)


# The same function the session-lock statement asks (api/store/schema.py).
_HEAD_SQL = "SELECT chat_latest_checkpoint(%s) AS checkpoint_id"


class PooledPostgresSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver without its saver-wide lock, for use over a connection pool.

    The upstream saver serializes every database call behind one asyncio.Lock, which a single
    shared connection needs; here each call checks out a connection of its own, so different
    sessions' turns reach the database side by side. Tables and rows are the upstream ones.
    """

    def __init__(
        self, pool: Pool, *, delta_channels: DeltaChannels, cached_sessions: int = 0
    ) -> None:
        super().__init__(pool)
        self._pool = pool
        self._delta_channels = delta_channels
        self._latest = LatestCheckpoints(cached_sessions, delta_channels)
        # Threads given a full copy of their delta channels since they were last pruned.
        self._copied: set[str] = set()
        # Threads whose latest checkpoint id a turn holding their lock learned with the lock.
        self._known_heads: dict[str, str | None] = {}

    # Overrides upstream's private `_cursor` (langgraph issue #7259: one lock per saver);
    # tests/store/test_saver_upstream.py fails if an upgrade changes what this relies on.
    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        async with self._pool.connection() as conn:
            if pipeline and not _ONE_STATEMENT.get():
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
        blobs = any(
            name in new_versions and not _is_primitive(value)
            for name, value in checkpoint["channel_values"].items()
        )
        token = _ONE_STATEMENT.set(not blobs)
        self._known_heads.pop(config["configurable"]["thread_id"], None)
        try:
            saved = await super().aput(config, checkpoint, metadata, new_versions)
        finally:
            _ONE_STATEMENT.reset(token)
        if saved["configurable"]["checkpoint_ns"] == "":
            if all(name in checkpoint["channel_values"] for name in self._delta_channels):
                self._copied.add(saved["configurable"]["thread_id"])
            parent = checkpoint_id(config)
            self._latest.saved(
                CheckpointTuple(
                    config=saved,
                    checkpoint=checkpoint,
                    metadata=get_checkpoint_metadata(config, metadata),
                    parent_config=(
                        {"configurable": {**saved["configurable"], "checkpoint_id": parent}}
                        if parent
                        else None
                    ),
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
        """Upstream's, with the writes serialized inline: upstream hands `_dump_writes` to a
        thread, and for a turn's few messages the hand-off costs more than the work (about a
        fifteenth of a one-token turn's CPU, measured). An executemany pipelines by itself.
        tests/store/test_saver_upstream.py fails if an upgrade changes what this repeats, or if the
        rows it stores differ from upstream's."""
        configurable = config["configurable"]
        query = (
            self.UPSERT_CHECKPOINT_WRITES_SQL
            if all(channel in WRITES_IDX_MAP for channel, _ in writes)
            else self.INSERT_CHECKPOINT_WRITES_SQL
        )
        params = self._dump_writes(
            configurable["thread_id"],
            configurable["checkpoint_ns"],
            configurable["checkpoint_id"],
            task_id,
            task_path,
            writes,
        )
        try:
            async with self._cursor() as cur:
                await cur.executemany(query, params)
        except BaseException:
            self._latest.forget(configurable["thread_id"])
            raise
        self._latest.wrote(config, writes, task_id, task_path)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint asked for. The latest one of a session, with its delta channels
        rebuilt whole, and from memory when this process used it last and PostgreSQL confirms
        it is still the latest: the lock statement's reading of it (`head_known`), or else one
        index lookup, instead of reading the conversation."""
        configurable = config["configurable"]
        latest = not checkpoint_id(config) and configurable.get("checkpoint_ns", "") == ""
        if not latest:
            return await super().aget_tuple(config)
        thread_id = configurable["thread_id"]
        remembered = self._latest.get(thread_id)
        if thread_id in self._known_heads:
            head = self._known_heads.pop(thread_id)
            if head is None:  # no checkpoint yet, as the lock statement read
                return None
        elif remembered is not None:
            head = await self._head(thread_id)
        if remembered is not None and head == checkpoint_id(remembered.config):
            return remembered
        found = await super().aget_tuple(config)
        if found is None or found.pending_writes:
            return found
        whole = await self._rebuilt(found)
        self._latest.remember(whole)
        return whole

    async def _rebuilt(self, found: CheckpointTuple) -> CheckpointTuple:
        """`found` with its delta channels' values whole, as LangGraph would rebuild them."""
        values = dict(found.checkpoint["channel_values"])
        missing = [
            name
            for name in self._delta_channels
            if name not in values and name in found.checkpoint["channel_versions"]
        ]
        histories = (
            await self.aget_delta_channel_history(config=found.config, channels=missing)
            if missing
            else {}
        )
        for name, spec in self._delta_channels.items():
            if name in histories:
                channel = spec.from_checkpoint(histories[name].get("seed"))
                channel.replay_writes(histories[name]["writes"])
                values[name] = channel.get()
            elif name in values:
                values[name] = spec.from_checkpoint(values[name]).get()
        return found._replace(checkpoint=with_values(found.checkpoint, values))

    @contextmanager
    def head_known(self, thread_id: str, head: str | None) -> Iterator[None]:
        """While the caller holds the thread's lock: `head` is its latest checkpoint's id (None:
        it has none), as the lock statement read it, so the next read of its latest state
        need not ask PostgreSQL again. Used once; a new checkpoint of the thread forgets it."""
        self._known_heads[thread_id] = head
        try:
            yield
        finally:
            self._known_heads.pop(thread_id, None)

    async def adelete_thread(self, thread_id: str) -> None:
        self._latest.forget(str(thread_id))
        self._copied.discard(str(thread_id))
        self._known_heads.pop(str(thread_id), None)
        await super().adelete_thread(thread_id)

    async def _head(self, thread_id: str) -> str | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_HEAD_SQL, (thread_id,))
            row = await cur.fetchone()
        return None if row is None else row["checkpoint_id"]

    async def prune_superseded(self, thread_id: str) -> None:
        """Deletes what the thread's latest state no longer needs: everything from before the
        newest full copy of its delta channels, if this process wrote a copy since it last
        pruned the thread (between copies, nothing is superseded: no statement is sent).

        Upstream's `aprune` refuses threads with delta channels; this is its `keep_latest` for
        them, in one statement. The caller holds the session's lock, so no turn writes to the
        thread meanwhile.
        """
        if thread_id not in self._copied:
            return
        self._copied.discard(thread_id)
        params = {"thread_id": thread_id, "channels": list(self._delta_channels)}
        try:
            async with self._pool.connection() as conn:
                await conn.execute(_PRUNE_SQL, params)
        except BaseException:
            self._copied.add(thread_id)
            raise
