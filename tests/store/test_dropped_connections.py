"""Connections the server drops (idle ones, under an `idle_session_timeout` as managed services
and poolers set, or every one in an outage) leave neither the pool nor the session locks stuck."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from api.store.database import Pool
from api.store.lock_keys import LOCK_HELD
from api.store.locks import SessionLocks
from api.store.pool import make_pool
from api.store.saver import PooledPostgresSaver
from api.store.schema import prepare_schema
from graph import DELTA_CHANNELS

_MAX_SIZE = 6


async def _alter_database(server_url: str, url: str, change: str, value: str) -> None:
    """`ALTER DATABASE <the database of url> <change> <value>`, from the server's own database;
    a setting applies to the sessions opened from then on."""
    name = str(conninfo_to_dict(url)["dbname"])
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
        await conn.execute(
            sql.SQL("ALTER DATABASE {} {} {}").format(
                sql.Identifier(name), sql.SQL(change), sql.Literal(value)
            )
        )


@asynccontextmanager
async def _grown_pool(url: str) -> AsyncIterator[Pool]:
    """A pool of `url`, grown past its minimum by concurrent requests."""
    pool = make_pool(url, min_size=1, max_size=_MAX_SIZE, timeout=2)
    await pool.open(wait=True)
    try:
        await asyncio.gather(*(_request(pool, 0.3) for _ in range(_MAX_SIZE)))
        assert pool.get_stats()["pool_size"] == _MAX_SIZE
        yield pool
    finally:
        await pool.close()


async def _request(pool: Pool, seconds: float = 0.0) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT 1 AS one, pg_sleep(%s)", (seconds,))
        row = await cur.fetchone()
    assert row is not None
    return int(row["one"])


async def test_a_grown_pool_serves_requests_after_the_server_dropped_its_idle_connections(
    postgres_server_url: str, new_database: str
) -> None:
    await _alter_database(postgres_server_url, new_database, "SET idle_session_timeout =", "2s")
    async with _grown_pool(new_database) as pool:
        for _ in range(3):
            # Every connection is idle past the server's timeout, which has closed them all.
            await asyncio.sleep(2.5)
            assert await _request(pool) == 1
            served = await asyncio.gather(*(_request(pool) for _ in range(_MAX_SIZE)))
            assert served == [1] * _MAX_SIZE


async def test_a_pool_that_lost_every_connection_connects_again_once_the_database_is_back(
    postgres_server_url: str, new_database: str
) -> None:
    async with _grown_pool(new_database) as pool:
        await asyncio.sleep(1.5)  # idle long enough to be checked before use
        await _alter_database(postgres_server_url, new_database, "WITH ALLOW_CONNECTIONS", "false")
        try:
            async with await psycopg.AsyncConnection.connect(
                postgres_server_url, autocommit=True
            ) as admin:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (conninfo_to_dict(new_database)["dbname"],),
                )
            with pytest.raises(psycopg.Error):
                # Each connection fails its check; none can be made in its place.
                await _request(pool)
            # Longer than the pool tries to make a connection again, and no request waits.
            await asyncio.sleep(2)
        finally:
            await _alter_database(
                postgres_server_url, new_database, "WITH ALLOW_CONNECTIONS", "true"
            )
        assert await _request(pool) == 1


async def test_the_lock_connection_outlives_the_idle_session_timeout(
    postgres_server_url: str, new_database: str
) -> None:
    pool = make_pool(new_database, min_size=1, max_size=2, timeout=10)
    async with pool:
        await prepare_schema(pool, PooledPostgresSaver(pool, delta_channels=DELTA_CHANNELS))
    await _alter_database(postgres_server_url, new_database, "SET idle_session_timeout =", "1s")
    session_id = uuid4()
    locks = SessionLocks(new_database, 10, owned="true", run_lease_seconds=10)
    try:
        async with locks.hold_any(session_id):
            await asyncio.sleep(3)
            async with await psycopg.AsyncConnection.connect(new_database) as observer:
                cur = await observer.execute(
                    f"SELECT {LOCK_HELD.format(key='%(key)s')}", {"key": str(session_id)}
                )
                assert await cur.fetchone() == (True,)
    finally:
        await locks.close()
