"""What PooledPostgresSaver relies on in langgraph-checkpoint-postgres, checked so that an upgrade
that changes it fails here, loudly, rather than in production."""

from __future__ import annotations

import inspect

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from api.store.saver import PooledPostgresSaver


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
