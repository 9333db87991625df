"""What PooledPostgresSaver relies on in langgraph-checkpoint-postgres, checked so that an upgrade
that changes it fails here, loudly, rather than in production."""

from __future__ import annotations

import inspect

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from api.resources import open_resources
from api.settings import Settings
from api.store.saver import PooledPostgresSaver
from graph.state import DELTA_CHANNELS
from tests.support.fakes import FakeChatModel


def test_the_upstream_saver_still_reaches_the_database_through_cursor() -> None:
    # PooledPostgresSaver overrides the private `_cursor` to check out a pool connection per
    # call instead of holding the saver-wide lock (langgraph issue #7259).
    parameters = inspect.signature(AsyncPostgresSaver._cursor).parameters
    assert list(parameters) == ["self", "pipeline"]
    assert parameters["pipeline"].kind is inspect.Parameter.KEYWORD_ONLY
    for method in ("aget_tuple", "aput", "aput_writes", "adelete_thread", "alist"):
        source = inspect.getsource(getattr(AsyncPostgresSaver, method))
        assert "self._cursor(" in source, method
    assert PooledPostgresSaver._cursor is not AsyncPostgresSaver._cursor


def test_the_upstream_tables_are_the_ones_pruned() -> None:
    # PooledPostgresSaver.prune_superseded deletes from these tables with these columns.
    migrations = "\n".join(AsyncPostgresSaver.MIGRATIONS)
    for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes"):
        assert f"CREATE TABLE IF NOT EXISTS {table}" in migrations
    for column in ("checkpoint_ns", "checkpoint_id", "channel", "version", "task_path"):
        assert column in migrations


def test_the_upstream_writes_are_what_aput_writes_repeats() -> None:
    # PooledPostgresSaver.aput_writes is upstream's without the thread hop: the same query
    # choice, the same private `_dump_writes` with the same arguments, one executemany.
    source = inspect.getsource(AsyncPostgresSaver.aput_writes)
    assert "if all(w[0] in WRITES_IDX_MAP for w in writes)" in source
    assert "self.UPSERT_CHECKPOINT_WRITES_SQL" in source
    assert "else self.INSERT_CHECKPOINT_WRITES_SQL" in source
    assert "asyncio.to_thread(\n            self._dump_writes," in source
    assert "await cur.executemany(query, params)" in source
    parameters = list(inspect.signature(AsyncPostgresSaver._dump_writes).parameters)
    assert parameters == [
        "self",
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "task_id",
        "task_path",
        "writes",
    ]


async def test_a_turns_writes_are_stored_as_upstream_stores_them(settings: Settings) -> None:
    # The same writes, through PooledPostgresSaver and through upstream's own aput_writes, give
    # the same rows (but for the thread id).
    writes = [("messages", [HumanMessage("hello", id="1")]), ("branch:to:model", None)]
    async with open_resources(settings, FakeChatModel()) as resources:
        saver = PooledPostgresSaver(resources.pool, delta_channels=DELTA_CHANNELS)
        upstream = AsyncPostgresSaver(resources.pool)  # type: ignore[arg-type]
        for name, target in (("ours", saver), ("upstream", upstream)):
            config = {
                "configurable": {"thread_id": name, "checkpoint_ns": "", "checkpoint_id": "c1"}
            }
            await target.aput_writes(config, writes, task_id="t1", task_path="~p")
        async with resources.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, task_path, idx, channel,"
                " type, blob FROM checkpoint_writes WHERE thread_id IN ('ours', 'upstream')"
                " ORDER BY thread_id, idx"
            )
            rows = await cur.fetchall()
            await conn.execute(
                "DELETE FROM checkpoint_writes WHERE thread_id IN ('ours', 'upstream')"
            )
    stored: dict[str, list[dict[str, object]]] = {"ours": [], "upstream": []}
    for row in rows:
        stored[row.pop("thread_id")].append(row)
    assert len(stored["ours"]) == 2
    assert stored["ours"] == stored["upstream"]
