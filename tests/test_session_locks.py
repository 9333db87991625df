"""The session lock statement reads the session's latest checkpoint as of when it took the lock,
not as of when the statement began: a turn that another process committed while this one
asked for the lock is never missed."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg

from tests.chat_client import new_session, say

# Another key than any session's: the test's own gate.
_GATE = 0x7465737400


async def _latest(conn: psycopg.AsyncConnection, session_id: str) -> str | None:
    cur = await conn.execute(
        "SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = ''",
        (session_id,),
    )
    row = await cur.fetchone()
    return None if row is None else row[0]


async def test_the_latest_checkpoint_is_read_after_the_lock_not_before(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, "hello")
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as writer,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as reader,
    ):
        before = await _latest(writer, session_id)
        assert before is not None
        await writer.execute("SELECT pg_advisory_lock(%s)", (_GATE,))
        # As the lock statement does: a first step that waits (here, for the gate), then the
        # checkpoint read; the statement, and its snapshot, begin before the writer commits.
        read = asyncio.ensure_future(
            reader.execute(
                "WITH attempt AS MATERIALIZED (SELECT pg_advisory_lock(%s) AS locked)"
                " SELECT CASE WHEN locked IS NOT NULL THEN chat_latest_checkpoint(%s) END"
                " FROM attempt",
                (_GATE, session_id),
            )
        )
        while not await _waits_for_gate(writer):
            await asyncio.sleep(0.01)
        newer = str(uuid.UUID(int=uuid.UUID(before).int + 1))
        await writer.execute(
            "INSERT INTO checkpoints"
            " (thread_id, checkpoint_ns, checkpoint_id, checkpoint, metadata)"
            " VALUES (%s, '', %s, '{}', '{}')",
            (session_id, newer),
        )
        await writer.execute("SELECT pg_advisory_unlock(%s)", (_GATE,))
        row = await (await read).fetchone()
        assert row == (newer,)


async def _waits_for_gate(conn: psycopg.AsyncConnection) -> bool:
    cur = await conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND objid = (%s::bigint & 4294967295)::oid",
        (_GATE,),
    )
    row = await cur.fetchone()
    return row is not None and row[0] > 0
