"""The rows upstream's `aput` and `aput_writes` write, built without writing them, so that a
turn's held-back checkpoints and writes go to PostgreSQL as one batch per table
(`PooledPostgresSaver.write_held_back`) rather than a statement or two each.

Built as `AsyncPostgresSaver.aput` builds them (langgraph-checkpoint-postgres 3.x), but with the
blobs serialized inline instead of in a thread: for a turn's few values the hand-off costs more
than the work. tests/store/test_saver_upstream.py holds the two to the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    get_serializable_checkpoint_metadata,
)
from langgraph.checkpoint.postgres.base import BasePostgresSaver
from langgraph.checkpoint.serde.types import _DeltaSnapshot
from psycopg.types.json import Jsonb

Row = tuple[Any, ...]


def checkpoint_rows(
    saver: BasePostgresSaver,
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    new_versions: ChannelVersions,
) -> tuple[Row, list[Row]]:
    """The checkpoint's row (for UPSERT_CHECKPOINTS_SQL) and its blobs' rows (for
    UPSERT_CHECKPOINT_BLOBS_SQL)."""
    configurable = config["configurable"]
    thread_id = configurable["thread_id"]
    checkpoint_ns = configurable["checkpoint_ns"]
    copy = checkpoint.copy()
    copy["channel_values"] = dict(checkpoint["channel_values"])
    blob_values = {}
    for name, value in checkpoint["channel_values"].items():
        if isinstance(value, _DeltaSnapshot):
            blob_values[name] = copy["channel_values"].pop(name)
            copy["channel_values"][name] = True
        elif value is None or isinstance(value, str | int | float | bool):
            pass
        else:
            blob_values[name] = copy["channel_values"].pop(name)
    blob_versions = {k: v for k, v in new_versions.items() if k in blob_values}
    blobs = (
        saver._dump_blobs(thread_id, checkpoint_ns, blob_values, blob_versions)
        if blob_versions
        else []
    )
    row = (
        thread_id,
        checkpoint_ns,
        checkpoint["id"],
        configurable.get("checkpoint_id"),
        Jsonb(copy),
        Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
    )
    return row, list(blobs)


def write_rows(
    saver: BasePostgresSaver,
    config: RunnableConfig,
    writes: Sequence[tuple[str, Any]],
    task_id: str,
    task_path: str,
) -> tuple[str, list[Row]]:
    """The statement upstream's `aput_writes` uses for these writes, and their rows."""
    configurable = config["configurable"]
    query = (
        saver.UPSERT_CHECKPOINT_WRITES_SQL
        if all(channel in WRITES_IDX_MAP for channel, _ in writes)
        else saver.INSERT_CHECKPOINT_WRITES_SQL
    )
    rows = saver._dump_writes(
        configurable["thread_id"],
        configurable["checkpoint_ns"],
        configurable["checkpoint_id"],
        task_id,
        task_path,
        writes,
    )
    return query, [tuple(r) for r in rows]
