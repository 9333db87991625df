"""The connection that holds a process's session locks, cut while turns hold them: the process
hears of it at once, with the number of sessions whose locks went with it, and not only at its
next lock."""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID, uuid4

import psycopg
import pytest

from api.store.locks import SessionLocks
from api.store.pool import make_pool
from api.store.saver import PooledPostgresSaver
from api.store.schema import prepare_schema
from graph import DELTA_CHANNELS

# The backend that holds the advisory lock of the session `%(key)s`, in this database.
_LOCK_HOLDER = """
SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND a.datname = current_database()
AND l.classid = ((hashtextextended(%(key)s, 0) >> 32) & 4294967295)::oid
AND l.objid = (hashtextextended(%(key)s, 0) & 4294967295)::oid
"""


@pytest.fixture
async def migrated(new_database: str) -> str:
    pool = make_pool(new_database, min_size=1, max_size=2, timeout=10)
    async with pool:
        await prepare_schema(pool, PooledPostgresSaver(pool, delta_channels=DELTA_CHANNELS))
    return new_database


async def _terminate_holder(url: str, session_id: UUID) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        cur = await admin.execute(_LOCK_HOLDER, {"key": str(session_id)})
        holders = await cur.fetchall()
        assert len(holders) == 1, "no backend holds the session's lock"
        await admin.execute("SELECT pg_terminate_backend(%s)", holders[0])


async def _lock_is_free(url: str, session_id: UUID) -> bool:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as other:
        cur = await other.execute(_LOCK_HOLDER, {"key": str(session_id)})
        return await cur.fetchone() is None


async def test_the_loss_is_heard_at_once_with_the_sessions_whose_locks_it_held(
    migrated: str, caplog: pytest.LogCaptureFixture
) -> None:
    lost: asyncio.Queue[int] = asyncio.Queue()
    locks = SessionLocks(migrated, 10, owned="true", run_lease_seconds=10, on_lost=lost.put_nowait)
    first, second = uuid4(), uuid4()
    try:
        async with locks.hold_any(first), locks.hold_any(second):
            with caplog.at_level(logging.WARNING, logger="chat_server.locks"):
                await _terminate_holder(migrated, first)
                # Heard while both turns still hold their locks, with no other lock call.
                assert await asyncio.wait_for(lost.get(), timeout=10) == 2
            assert await _lock_is_free(migrated, first)
        [said] = [r for r in caplog.records if r.name == "chat_server.locks"]
        assert said.levelname == "WARNING"
        assert said.getMessage().startswith("the lock connection was lost (")
        assert said.getMessage().endswith("): the locks of 2 session(s) went with it")

        # The next lock connects again, and its connection is watched in turn.
        third = uuid4()
        async with locks.hold_any(third):
            assert not await _lock_is_free(migrated, third)
            await _terminate_holder(migrated, third)
            assert await asyncio.wait_for(lost.get(), timeout=10) == 1
        assert lost.empty()
    finally:
        await locks.close()


async def test_a_loss_while_no_lock_is_held_is_heard_too(migrated: str) -> None:
    lost: asyncio.Queue[int] = asyncio.Queue()
    locks = SessionLocks(migrated, 10, owned="true", run_lease_seconds=10, on_lost=lost.put_nowait)
    session_id = uuid4()
    try:
        async with locks.hold_any(session_id):
            pass
        async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert await asyncio.wait_for(lost.get(), timeout=10) == 0
        async with locks.hold_any(session_id):
            assert not await _lock_is_free(migrated, session_id)
    finally:
        await locks.close()
