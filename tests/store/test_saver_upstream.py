"""What PooledPostgresSaver relies on in langgraph-checkpoint-postgres, checked by what upstream
does against a real database, so that an upgrade that changes it fails here, loudly, rather than
in production. (Upstream's tables and columns, which pruning and `chat_latest_checkpoint` use,
are checked by test_saver_pruning.py and test_saver_conformance.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint, empty_checkpoint
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg import AsyncCursor
from psycopg.rows import DictRow

from api.store import saver as saver_module
from api.store.database import Pool
from api.store.pool import make_pool
from api.store.saver import PooledPostgresSaver

if TYPE_CHECKING:
    from tests.store.conftest import OpenSaver


def _config(thread_id: str, checkpoint_id: str | None = None) -> RunnableConfig:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def _checkpoint(values: dict[str, Any]) -> Checkpoint:
    checkpoint = empty_checkpoint()
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = {name: 1 for name in values}
    return checkpoint


class _UpstreamThroughOurCursor(AsyncPostgresSaver):
    """Upstream's saver whose own connection pool is never opened: it reaches the database only
    if it does so through `_cursor`, here PooledPostgresSaver's, counting each use."""

    def __init__(self, pool: Pool, unopened: Pool) -> None:
        super().__init__(unopened)  # type: ignore[arg-type]
        self._pool = pool
        self.cursors = 0

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        self.cursors += 1
        async with PooledPostgresSaver._cursor(self, pipeline=pipeline) as cur:  # type: ignore[arg-type]
            yield cur


async def test_upstream_reaches_the_database_only_through_cursor(
    saver_alone: OpenSaver, new_database: str
) -> None:
    # PooledPostgresSaver overrides the private `_cursor` to check out a pool connection per
    # call instead of holding the saver-wide lock: it works only if upstream's methods use it.
    async with saver_alone() as ours:
        upstream = _UpstreamThroughOurCursor(
            ours.conn,  # type: ignore[arg-type]
            make_pool(new_database, min_size=1, max_size=1, timeout=1),
        )

        async def counted(call: Any) -> tuple[Any, int]:
            before = upstream.cursors
            return await call, upstream.cursors - before

        checkpoint = _checkpoint({"messages": [HumanMessage("hello", id="1")], "step": 1})
        saved, put = await counted(
            upstream.aput(_config("thread"), checkpoint, {}, checkpoint["channel_versions"])
        )
        _, put_writes = await counted(
            upstream.aput_writes(saved, [("messages", [AIMessage("hi", id="2")])], "task")
        )
        found, get_tuple = await counted(upstream.aget_tuple(_config("thread")))
        listed, listing = await counted(_listed(upstream.alist(_config("thread"))))
        _, delete_thread = await counted(upstream.adelete_thread("thread"))
        gone, _ = await counted(upstream.aget_tuple(_config("thread")))

    assert found is not None
    assert found.checkpoint["channel_values"]["messages"] == [HumanMessage("hello", id="1")]
    assert [write[1] for write in found.pending_writes] == ["messages"]
    assert [t.config for t in listed] == [found.config]
    assert gone is None
    assert min(put, put_writes, get_tuple, listing, delete_thread) >= 1


async def _listed(tuples: AsyncIterator[Any]) -> list[Any]:
    return [t async for t in tuples]


class _CountingCursor:
    """A cursor that notes the statements sent through it."""

    def __init__(self, cursor: AsyncCursor[DictRow], statements: list[str]) -> None:
        self._cursor = cursor
        self._statements = statements

    async def execute(self, query: str, *args: Any, **kwargs: Any) -> AsyncCursor[DictRow]:
        self._statements.append(query)
        return await self._cursor.execute(query, *args, **kwargs)

    async def executemany(self, query: str, *args: Any, **kwargs: Any) -> None:
        self._statements.append(query)
        await self._cursor.executemany(query, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class _NotingSaver(PooledPostgresSaver):
    """PooledPostgresSaver noting, for each cursor it hands upstream, whether a pipeline was asked
    for but left out (a lone statement), and the statements sent."""

    uses: list[tuple[bool, list[str]]]

    @asynccontextmanager
    async def _cursor(self, *, pipeline: bool = False) -> AsyncIterator[AsyncCursor[DictRow]]:
        statements: list[str] = []
        self.uses.append((pipeline and saver_module._ONE_STATEMENT.get(), statements))
        async with super()._cursor(pipeline=pipeline) as cur:
            yield _CountingCursor(cur, statements)  # type: ignore[misc]


async def test_aput_leaves_out_the_pipeline_only_for_a_lone_statement(
    saver_alone: OpenSaver,
) -> None:
    # PooledPostgresSaver.aput predicts from upstream's rule for what it stores inline whether
    # upstream's aput sends one statement (the checkpoint) or blobs too; a wrong prediction
    # would send blobs and checkpoint without their pipeline.
    messages = [HumanMessage("hello", id="1")]
    cases = [
        ("inline", {"step": 1, "name": "x", "flag": True, "none": None}, None),
        ("blob", {"messages": messages}, None),
        ("copy", {"messages": _DeltaSnapshot(messages)}, None),  # a delta channel's full copy
        ("blob", {"messages": messages, "step": 2}, {"step": 2}),  # the blob is stored already
    ]
    async with saver_alone() as ours:
        saver = _NotingSaver(ours.conn, delta_channels={})  # type: ignore[arg-type]
        saver.uses = []
        for thread_id, values, new_versions in cases:
            checkpoint = _checkpoint(values)
            await saver.aput(
                _config(thread_id), checkpoint, {}, new_versions or checkpoint["channel_versions"]
            )
            found = await saver.aget_tuple(_config(thread_id))
            assert found is not None
            assert found.checkpoint["channel_values"] == values

    sent = [(lone, len(statements)) for lone, statements in saver.uses if statements]
    assert (True, 1) in sent and (False, 2) in sent
    assert all(count == 1 for lone, count in sent if lone)


async def test_a_turns_writes_are_stored_as_upstream_stores_them(
    saver_alone: OpenSaver,
) -> None:
    # PooledPostgresSaver.aput_writes is upstream's without the thread hop: the same choice of
    # query, the same private `_dump_writes`. The same writes, through each, give the same rows
    # (but for the thread id): values serialized alike, a plain write kept first, a special one
    # (an error) replaced.
    batches: Sequence[list[tuple[str, Any]]] = [
        [("messages", [HumanMessage("hello", id="1")]), ("branch:to:model", None)],
        [("messages", [HumanMessage("again", id="2")])],
        [("__error__", "first error")],
        [("__error__", "second error")],
    ]
    async with saver_alone() as ours:
        upstream = AsyncPostgresSaver(ours.conn)
        for name, target in (("ours", ours), ("upstream", upstream)):
            for batch in batches:
                await target.aput_writes(_config(name, "c1"), batch, task_id="t1", task_path="~p")
        async with ours.conn.connection() as conn:  # type: ignore[union-attr]
            cur = await conn.execute(
                "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel,"
                " type, blob FROM checkpoint_writes ORDER BY thread_id, idx"
            )
            rows = await cur.fetchall()
    stored: dict[str, list[dict[str, object]]] = {"ours": [], "upstream": []}
    for row in rows:
        stored[row.pop("thread_id")].append(row)
    assert [(row["channel"], row["idx"]) for row in stored["ours"]] == [
        ("__error__", -1),
        ("messages", 0),
        ("branch:to:model", 1),
    ]
    assert stored["ours"] == stored["upstream"]


async def test_a_held_back_turn_is_stored_as_upstream_stores_it(
    saver_alone: OpenSaver,
) -> None:
    # write_held_back builds upstream's rows itself (api/store/rows.py), to write them in one
    # batch per table: the same checkpoints and writes, through it and through upstream's aput
    # and aput_writes, give the same rows (but for the thread id).
    first = _checkpoint({"__start__": {"messages": [HumanMessage("hi", id="1")]}, "n": 1})
    second = _checkpoint(
        {"messages": _DeltaSnapshot([HumanMessage("hi", id="1"), AIMessage("yo", id="2")])}
    )
    second["id"] = "2" + first["id"][1:]
    steps: list[tuple[str, Any]] = [
        ("put", (_config("t"), first, {"source": "input", "step": -1}, {"__start__": 1, "n": 1})),
        ("writes", (_config("t", first["id"]), [("messages", [HumanMessage("hi", id="1")])])),
        ("put", (_config("t", first["id"]), second, {"source": "loop"}, {"messages": 1})),
    ]

    async def run(target: AsyncPostgresSaver, thread: str) -> None:
        for kind, (config, *rest) in steps:
            config = {"configurable": {**config["configurable"], "thread_id": thread}}
            if kind == "put":
                await target.aput(config, *rest)
            else:
                await target.aput_writes(config, rest[0], task_id="t1", task_path="~p")

    async with saver_alone() as ours:
        with ours.held_back("ours") as held:
            await run(ours, "ours")
        async with ours.conn.connection() as conn:  # type: ignore[union-attr]
            async with conn.transaction():
                await ours.write_held_back(held, conn)
        await run(AsyncPostgresSaver(ours.conn), "upstream")
        stored: dict[str, dict[str, list[dict[str, object]]]] = {"ours": {}, "upstream": {}}
        async with ours.conn.connection() as conn:  # type: ignore[union-attr]
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
                cur = await conn.execute(f"SELECT * FROM {table} ORDER BY 2, 3, 4")
                for row in await cur.fetchall():
                    stored[row.pop("thread_id")].setdefault(table, []).append(row)
    assert set(stored["ours"]) == {"checkpoints", "checkpoint_blobs", "checkpoint_writes"}
    assert stored["ours"] == stored["upstream"]
