"""The checkpointer: langgraph's `AsyncPostgresSaver` over a connection pool, on upstream's
tables and rows, with five departures from upstream, each for its reason:

1. A pool connection per call instead of the saver-wide asyncio.Lock (`_cursor`). Upstream's
   lock is what one shared connection needs; over a pool it only makes every session of a
   process wait for every other's database calls (langgraph issue #7259).
2. No explicit pipeline for a lone statement (`aput` without blobs): the pipeline's sync costs
   more CPU than it saves, about a tenth of a one-token turn's, measured, for no round trip.
   Several statements (a full copy's blobs and its checkpoint) still share a pipeline.
3. A turn's writes serialized inline (`aput_writes`): upstream hands `_dump_writes` to a thread,
   and for a turn's few messages the hand-off costs more than the work, about a fifteenth of a
   one-token turn's CPU, measured. A turn's held-back checkpoints and writes (its three
   checkpoints, their blobs and writes) go as one batch per table (`write_held_back`, with
   upstream's rows built in api/store/rows.py) rather than a statement or two each and a thread
   hop for each blob: 2.55 to 2.59 ms of CPU a one-token turn instead of 2.94 to 3.79, measured
   in process (BENCHMARKS.md).
4. The latest state of the sessions a process used last kept whole in memory (`LatestCheckpoints`,
   api/store/latest.py), served by `aget_tuple` only when PostgreSQL confirms it is still the
   thread's latest checkpoint. The session-lock statement reads the latest checkpoint id once the
   lock is held (api/store/locks.py) and the turn hands it over (`latest_checkpoint_known`), so a
   turn whose state is in memory sends no statement but the lock's before it calls the model, and
   decodes nothing it decoded before: with the model's window found from the newest message back,
   a turn at 500 turns takes 1.02× the time of one at 10 (BENCHMARKS.md). Without the lock's
   reading, one index lookup (`_latest_checkpoint_id`).
5. Its own pruning (`prune`, api/store/retention.py): upstream's `aprune` refuses threads with
   delta channels. Every checkpoint is kept by default, but full copies of the conversation
   are thinned to the newest along each branch, so that they add up linearly, not
   quadratically; with a number of turns to keep, the head's older checkpoints go too.
6. Compact channel versions (`get_next_version`): upstream's are 51 characters (a 32-digit
   counter and a random float), and a checkpoint row names them about seven times. These keep
   the counter (10 digits) and 48 random bits, unique across forks all the same, and compare
   above any upstream version of a smaller counter; the schema's migrations give rows written
   before the same form (api/store/schema.py).
7. Listed checkpoints (`alist`, so the graph's state history) carry their delta channels whole,
   each rebuilt from the one before it in the list where it can be: a page of history costs
   one replay, not one per state.

`setup()` creates everything these need: upstream's tables, then the SQL function that reads a
thread's latest checkpoint id. tests/store/test_saver_upstream.py fails if an upgrade changes
what this module relies on upstream; tests/store/test_saver_conformance.py runs LangGraph's
conformance suite on a saver set up alone, with the memory off and on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from secrets import token_hex
from typing import Any, NamedTuple

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import DictRow, dict_row

from api.store.database import Pool
from api.store.latest import DeltaChannels, LatestCheckpoints, checkpoint_id, with_values
from api.store.retention import prune
from api.store.rows import Row, checkpoint_rows, write_rows

# Set while upstream's aput sends one statement, which then goes without a pipeline (2 in the
# module docstring).
_ONE_STATEMENT: ContextVar[bool] = ContextVar("one_statement", default=False)


def _is_primitive(value: object) -> bool:
    # What upstream's aput keeps inline in the checkpoint row instead of writing as a blob.
    return value is None or isinstance(value, str | int | float | bool)


# The id of a thread's latest checkpoint, read with a snapshot of its own: a VOLATILE function's
# query sees what committed before the query starts, not before the statement that calls it
# (PostgreSQL's "Function Volatility Categories"). So the session-lock statement, which calls it
# once it holds the lock, sees a turn that another process committed just before letting the
# lock go. setup() runs this every time (it is idempotent); like upstream's migrations, it wants
# one setup at a time on a database (api/store/schema.py holds a lock for that).
_LATEST_CHECKPOINT_FUNCTION_SQL = """
CREATE OR REPLACE FUNCTION chat_latest_checkpoint(thread text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE latest text;
BEGIN
    SELECT checkpoint_id INTO latest FROM checkpoints
    WHERE thread_id = thread AND checkpoint_ns = ''
    ORDER BY checkpoint_id DESC LIMIT 1;
    RETURN latest;
END $$
"""

_LATEST_CHECKPOINT_ID_SQL = "SELECT chat_latest_checkpoint(%s) AS checkpoint_id"


class _Put(NamedTuple):
    config: RunnableConfig
    checkpoint: Checkpoint
    metadata: CheckpointMetadata
    new_versions: ChannelVersions


class _Writes(NamedTuple):
    config: RunnableConfig
    writes: Sequence[tuple[str, Any]]
    task_id: str
    task_path: str


@dataclass
class HeldBack:
    """A turn's checkpoints and writes of one thread, held back while the turn runs, to be
    written together in the transaction that commits the turn (api/store/turn_save.py)."""

    thread_id: str
    # What LangGraph saved, in its order: checkpoints (aput) and writes (aput_writes).
    saved: list[_Put | _Writes] = field(default_factory=list)
    # The newest checkpoint held back: the thread's latest once the turn commits.
    checkpoint_id: str | None = None

    def checkpoints(self) -> list[tuple[str, str | None, CheckpointMetadata]]:
        """Each checkpoint held back, in order: its id, its parent's and its metadata."""
        return [
            (put.checkpoint["id"], put.config["configurable"].get("checkpoint_id"), put.metadata)
            for put in self.saved
            if isinstance(put, _Put)
        ]


_HELD_BACK: ContextVar[HeldBack | None] = ContextVar("held_back", default=None)


def _holding_back(thread_id: str) -> HeldBack | None:
    held = _HELD_BACK.get()
    return held if held is not None and held.thread_id == thread_id else None


class PooledPostgresSaver(AsyncPostgresSaver):
    """AsyncPostgresSaver over a connection pool, with the departures listed in this module's
    docstring."""

    def __init__(
        self,
        pool: Pool,
        *,
        delta_channels: DeltaChannels,
        cached_sessions: int = 0,
        keep_turns: int | None = None,
    ) -> None:
        """`keep_turns`: how many turns of history a thread keeps along its head's path (None:
        all of them)."""
        super().__init__(pool)
        self._pool = pool
        self._delta_channels = delta_channels
        self._keep_turns = keep_turns
        self._latest = LatestCheckpoints(cached_sessions, delta_channels)
        # Threads given a full copy of their delta channels since they were last pruned.
        self._copied: set[str] = set()
        # Threads whose latest checkpoint id a turn holding their lock learned with the lock.
        self._known_latest_ids: dict[str, str | None] = {}

    async def setup(self) -> None:
        """Upstream's tables and migrations, then `chat_latest_checkpoint`."""
        await super().setup()
        async with self._pool.connection() as conn:
            await conn.execute(_LATEST_CHECKPOINT_FUNCTION_SQL)

    # Overrides upstream's private `_cursor` (1 in the module docstring). Upstream's fallback to a
    # transaction where libpq has no pipeline mode is left out: psycopg[binary] bundles a libpq
    # that has it.
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
        configurable = config["configurable"]
        if (held := _holding_back(configurable["thread_id"])) is not None:
            held.saved.append(_Put(config, checkpoint, metadata, new_versions))
            held.checkpoint_id = checkpoint["id"]
            self._known_latest_ids.pop(configurable["thread_id"], None)
            # What upstream's aput returns, without a round trip.
            return {
                "configurable": {
                    "thread_id": configurable["thread_id"],
                    "checkpoint_ns": configurable.get("checkpoint_ns", ""),
                    "checkpoint_id": checkpoint["id"],
                }
            }
        return await self._put(config, checkpoint, metadata, new_versions)

    async def _put(
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
        self._known_latest_ids.pop(config["configurable"]["thread_id"], None)
        try:
            saved = await super().aput(config, checkpoint, metadata, new_versions)
        finally:
            _ONE_STATEMENT.reset(token)
        self._remember(config, checkpoint, metadata, saved)
        return saved

    def _remember(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        saved: RunnableConfig,
    ) -> None:
        """Notes a checkpoint just written: in the latest-state memory, and whether it holds a
        full copy of the delta channels."""
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

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Upstream's, with the writes serialized inline (3 in the module docstring). An
        executemany pipelines by itself."""
        if (held := _holding_back(config["configurable"]["thread_id"])) is not None:
            held.saved.append(_Writes(config, writes, task_id, task_path))
            return
        await self._put_writes(config, writes, task_id, task_path)

    async def _put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        query, params = write_rows(self, config, writes, task_id, task_path)
        try:
            async with self._cursor() as cur:
                await cur.executemany(query, params)
        except BaseException:
            self._latest.forget(config["configurable"]["thread_id"])
            raise
        self._latest.wrote(config, writes, task_id, task_path)

    def get_next_version(self, current: str | None, channel: None) -> str:
        """A version 23 characters long (6 in the module docstring)."""
        if current is None:
            counter = 0
        elif isinstance(current, int):
            counter = current
        else:
            counter = int(current.split(".")[0])
        return f"{counter + 1:010}.{token_hex(6)}"

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Upstream's, with the delta channels of the root namespace's checkpoints whole (7 in
        the module docstring)."""
        listed = [
            found
            async for found in super().alist(config, filter=filter, before=before, limit=limit)
        ]
        whole: dict[str, CheckpointTuple] = {}
        for found in reversed(listed):
            if found.config["configurable"].get("checkpoint_ns", "") == "":
                parent = whole.get(checkpoint_id(found.parent_config) or "")
                whole[checkpoint_id(found.config) or ""] = await self._rebuilt(found, parent)
        for found in listed:
            yield whole.get(checkpoint_id(found.config) or "", found)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint asked for. The latest one of a session, with its delta channels
        rebuilt whole, and from memory when this process used it last and PostgreSQL confirms
        it is still the latest: the lock statement's reading of its id
        (`latest_checkpoint_known`), or else one index lookup, instead of reading the
        conversation."""
        configurable = config["configurable"]
        latest = not checkpoint_id(config) and configurable.get("checkpoint_ns", "") == ""
        if not latest:
            return await super().aget_tuple(config)
        thread_id = configurable["thread_id"]
        remembered = self._latest.get(thread_id)
        latest_id: str | None = None
        if thread_id in self._known_latest_ids:
            latest_id = self._known_latest_ids.pop(thread_id)
            if latest_id is None:  # no checkpoint yet, as the lock statement read
                return None
            # The checkpoint the session row names, not the greatest id: ids come from each
            # process's clock.
            config = {"configurable": {**configurable, "checkpoint_id": latest_id}}
        elif remembered is not None:
            latest_id = await self._latest_checkpoint_id(thread_id)
        if remembered is not None and latest_id == checkpoint_id(remembered.config):
            return remembered
        found = await super().aget_tuple(config)
        if found is None or found.pending_writes:
            return found
        whole = await self._rebuilt(found)
        self._latest.remember(whole)
        return whole

    async def _rebuilt(
        self, found: CheckpointTuple, parent: CheckpointTuple | None = None
    ) -> CheckpointTuple:
        """`found` with its delta channels' values whole, as LangGraph would rebuild them: from
        `parent` (rebuilt whole, with its pending writes) where it is given, else by a walk
        back to the nearest full copy."""
        values = dict(found.checkpoint["channel_values"])
        versions = found.checkpoint["channel_versions"]
        missing = [name for name in self._delta_channels if name not in values and name in versions]
        if parent is not None:
            parent_values = parent.checkpoint["channel_values"]
            parent_versions = parent.checkpoint["channel_versions"]
            for name in [n for n in missing if n in parent_values]:
                channel = self._delta_channels[name].from_checkpoint(parent_values[name])
                if versions[name] != parent_versions.get(name):
                    channel.replay_writes([w for w in parent.pending_writes or [] if w[1] == name])
                values[name] = channel.get()
            missing = [name for name in missing if name not in values]
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
            elif name in found.checkpoint["channel_values"]:
                values[name] = spec.from_checkpoint(values[name]).get()
        return found._replace(checkpoint=with_values(found.checkpoint, values))

    @contextmanager
    def latest_checkpoint_known(
        self, thread_id: str, latest_checkpoint_id: str | None
    ) -> Iterator[None]:
        """While the caller holds the thread's lock: `latest_checkpoint_id` is the id of its
        latest checkpoint (None: it has none), as the lock statement read it, so the next read of
        its latest state need not ask PostgreSQL again. Used once; a new checkpoint of the thread
        forgets it."""
        self._known_latest_ids[thread_id] = latest_checkpoint_id
        try:
            yield
        finally:
            self._known_latest_ids.pop(thread_id, None)

    def remembered_messages(self, thread_id: str, latest_checkpoint_id: str) -> list[Any] | None:
        """The messages of the thread's checkpoint `latest_checkpoint_id` if this process
        remembers it as the thread's latest, whole; else None (nothing is read)."""
        remembered = self._latest.get(thread_id)
        if remembered is None or checkpoint_id(remembered.config) != latest_checkpoint_id:
            return None
        return list(remembered.checkpoint["channel_values"].get("messages", []))

    @contextmanager
    def held_back(self, thread_id: str) -> Iterator[HeldBack]:
        """Within the block (and the tasks it starts), the thread's checkpoints and writes are
        held back instead of written: nothing of them is stored unless `write_held_back`
        writes them."""
        held = HeldBack(thread_id)
        token = _HELD_BACK.set(held)
        try:
            yield held
        finally:
            _HELD_BACK.reset(token)

    async def write_held_back(self, held: HeldBack, conn: AsyncConnection[DictRow]) -> None:
        """Writes what was held back on `conn` (in the caller's transaction), one batch per
        table: the rows upstream's aput and aput_writes write (api/store/rows.py). If the
        transaction does not commit, the caller must `forget` the thread."""
        checkpoints: list[Row] = []
        blobs: list[Row] = []
        writes: dict[str, list[Row]] = {}
        for item in held.saved:
            if isinstance(item, _Put):
                row, blob_rows = checkpoint_rows(self, *item)
                checkpoints.append(row)
                blobs.extend(blob_rows)
            else:
                query, rows = write_rows(self, *item)
                writes.setdefault(query, []).extend(rows)
        async with conn.cursor(binary=True) as cur:
            if blobs:
                await cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL, blobs)
            await cur.executemany(self.UPSERT_CHECKPOINTS_SQL, checkpoints)
            for query, rows in writes.items():
                await cur.executemany(query, rows)
        for item in held.saved:
            if isinstance(item, _Put):
                configurable = item.config["configurable"]
                saved: RunnableConfig = {
                    "configurable": {
                        "thread_id": configurable["thread_id"],
                        "checkpoint_ns": configurable["checkpoint_ns"],
                        "checkpoint_id": item.checkpoint["id"],
                    }
                }
                self._remember(item.config, item.checkpoint, item.metadata, saved)
            else:
                self._latest.wrote(*item)

    def forget(self, thread_id: str) -> None:
        """Drops what this process remembers of the thread (its state may not be what it
        wrote)."""
        self._latest.forget(thread_id)
        self._copied.discard(thread_id)
        self._known_latest_ids.pop(thread_id, None)

    async def adelete_thread(self, thread_id: str) -> None:
        self.forget(str(thread_id))
        await super().adelete_thread(thread_id)

    async def _latest_checkpoint_id(self, thread_id: str) -> str | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(_LATEST_CHECKPOINT_ID_SQL, (thread_id,))
            row = await cur.fetchone()
        return None if row is None else row["checkpoint_id"]

    async def apply_retention(self, thread_id: str, head: str) -> None:
        """Deletes what the thread need not keep of its history (api/store/retention.py), if
        this process wrote a full copy of its delta channels since it last pruned it (between
        copies, nothing changes: no statement is sent). The caller holds the session's lock,
        so no turn writes to the thread meanwhile."""
        if thread_id not in self._copied:
            return
        self._copied.discard(thread_id)
        try:
            async with self._pool.connection() as conn, conn.transaction():
                await prune(conn, thread_id, head, list(self._delta_channels), self._keep_turns)
        except BaseException:
            self._copied.add(thread_id)
            raise
