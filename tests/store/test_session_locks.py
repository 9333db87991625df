"""The session lock statement reads the session's latest checkpoint as of when it took the lock,
not as of when the statement began: a turn that another process committed while this one
asked for the lock is never missed."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import psycopg

from api.store.locks import _TRY_LOCK, SessionLocks
from api.store.sessions import OWNED

# Another key than any session's: the test's own gate.
_GATE = 0x7465737400


async def test_the_latest_checkpoint_is_read_after_the_lock_not_before(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # `client` has the schema prepared. The session is an owner's of its own: nothing lists it.
    session_id = str(uuid.uuid4())
    async with (
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as writer,
        await psycopg.AsyncConnection.connect(database_url, autocommit=True) as reader,
    ):
        await writer.execute(
            "INSERT INTO chat_sessions (id, owner) VALUES (%s, %s)", (session_id, "lock-test")
        )
        await writer.execute("SELECT pg_advisory_lock(%s)", (_GATE,))
        # The lock statement itself, its check of the session made to wait for the gate, which
        # comes after the lock is taken and before the checkpoint read: the statement, and its
        # snapshot, begin before the writer commits.
        statement = _TRY_LOCK.format(present="pg_advisory_lock(%(gate)s)::text = ''")
        params = {"key": session_id, "gate": _GATE, "run": None, "lease": 10}
        read = asyncio.ensure_future(reader.execute(statement, params))
        while not await _waits_for_gate(writer):
            await asyncio.sleep(0.01)
        try:
            await writer.execute(
                "UPDATE chat_sessions SET latest_checkpoint_id = 'c1' WHERE id = %s",
                (session_id,),
            )
            await writer.execute("SELECT pg_advisory_unlock(%s)", (_GATE,))
            row = await (await read).fetchone()
            # Locked, present, and the latest checkpoint: a plain subquery would answer None, as
            # the session had no checkpoint when the statement began.
            assert row == (True, True, "c1")
        finally:
            await writer.execute("DELETE FROM chat_sessions WHERE id = %s", (session_id,))


async def _waits_for_gate(conn: psycopg.AsyncConnection) -> bool:
    cur = await conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND objid = (%s::bigint & 4294967295)::oid",
        (_GATE,),
    )
    row = await cur.fetchone()
    return row is not None and row[0] > 0


async def test_a_turn_waiting_for_another_process_s_turn_hears_it_is_queued_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as writer:
        await writer.execute(
            "INSERT INTO chat_sessions (id, owner) VALUES (%s, %s)", (session_id, "lock-test")
        )
        # Two processes' locks: each its own lock connection.
        one = SessionLocks(database_url, 10, owned=OWNED, run_lease_seconds=10)
        other = SessionLocks(database_url, 10, owned=OWNED, run_lease_seconds=10)
        heard: list[str] = []
        try:
            async with one.hold(session_id, "lock-test"):

                async def waiting() -> None:
                    async with other.hold(
                        session_id, "lock-test", on_queued=lambda: heard.append("queued")
                    ):
                        heard.append("locked")

                waiter = asyncio.ensure_future(waiting())
                async with asyncio.timeout(30):
                    while not heard:
                        await asyncio.sleep(0.01)
                assert heard == ["queued"]
            await waiter
            assert heard == ["queued", "locked"]
        finally:
            await one.close()
            await other.close()
            await writer.execute("DELETE FROM chat_sessions WHERE id = %s", (session_id,))
