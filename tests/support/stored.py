"""What PostgreSQL holds for a session, read straight from the checkpointer's tables."""

from __future__ import annotations

import psycopg
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from graph import build_graph

CHECKPOINT_TABLES = ("checkpoints", "checkpoint_blobs", "checkpoint_writes")


async def stored_messages(
    database_url: str, session_id: str, checkpoint_id: str | None = None
) -> list[BaseMessage]:
    """The conversation (at its latest checkpoint, or at `checkpoint_id`) as LangGraph's own
    saver reads it back, replaying the stored deltas."""
    configurable = {"thread_id": session_id}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    async with AsyncPostgresSaver.from_conn_string(database_url) as saver:
        state = await build_graph(saver).aget_state({"configurable": configurable})
    return list(state.values.get("messages", []))


async def stored_turns(database_url: str, session_id: str) -> list[tuple[str, str]]:
    return [(m.type, m.text) for m in await stored_messages(database_url, session_id)]


def checkpoint_footprint(database_url: str, session_id: str) -> dict[str, int]:
    """Rows of the session in each checkpoint table, and the bytes of all of them."""
    with psycopg.connect(database_url) as conn:
        footprint = {}
        for table in CHECKPOINT_TABLES:
            rows, size = conn.execute(
                f"SELECT count(*), coalesce(sum(pg_column_size(t.*)), 0) FROM {table} t"
                " WHERE thread_id = %s",
                (session_id,),
            ).fetchone()  # type: ignore[misc]
            footprint[table] = int(rows)
            footprint[f"{table}_bytes"] = int(size)
    footprint["bytes"] = sum(v for k, v in footprint.items() if k.endswith("_bytes"))
    return footprint


def checkpoint_rows(database_url: str, session_id: str) -> dict[str, int]:
    """Rows of the session in each checkpoint table."""
    footprint = checkpoint_footprint(database_url, session_id)
    return {table: footprint[table] for table in CHECKPOINT_TABLES}


def full_copies(database_url: str, session_id: str) -> list[str]:
    """The session's checkpoints that hold a full copy of the conversation, oldest first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT checkpoint_id FROM checkpoints c WHERE thread_id = %s"
            " AND checkpoint -> 'channel_values' ? 'messages'"
            " AND EXISTS (SELECT 1 FROM checkpoint_blobs b WHERE b.thread_id = c.thread_id"
            " AND b.channel = 'messages'"
            " AND b.version = c.checkpoint -> 'channel_versions' ->> 'messages')"
            " ORDER BY checkpoint_id",
            (session_id,),
        ).fetchall()
    return [r[0] for r in rows]
