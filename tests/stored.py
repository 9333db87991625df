"""What PostgreSQL holds for a session, read straight from the checkpointer's tables."""

from __future__ import annotations

import psycopg
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver


async def stored_messages(database_url: str, session_id: str) -> list[BaseMessage]:
    async with AsyncPostgresSaver.from_conn_string(database_url) as saver:
        saved = await saver.aget_tuple({"configurable": {"thread_id": session_id}})
    if saved is None:
        return []
    return list(saved.checkpoint["channel_values"].get("messages", []))


async def stored_turns(database_url: str, session_id: str) -> list[tuple[str, str]]:
    return [(m.type, m.text) for m in await stored_messages(database_url, session_id)]


def checkpoint_footprint(database_url: str, session_id: str) -> dict[str, int]:
    """Rows of the session in each checkpoint table, and the bytes of its blobs."""
    with psycopg.connect(database_url) as conn:
        counts = {
            table: conn.execute(
                f"SELECT count(*) FROM {table} WHERE thread_id = %s", (session_id,)
            ).fetchone()[0]  # type: ignore[index]
            for table in ("checkpoints", "checkpoint_blobs", "checkpoint_writes")
        }
        blob_bytes = conn.execute(
            "SELECT coalesce(sum(length(blob)), 0) FROM checkpoint_blobs WHERE thread_id = %s",
            (session_id,),
        ).fetchone()[0]  # type: ignore[index]
    return {**counts, "blob_bytes": int(blob_bytes)}
