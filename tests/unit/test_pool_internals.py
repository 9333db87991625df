"""What api/store/pool.py relies on in psycopg_pool beyond its public API, checked so that an
upgrade that changes it fails here, loudly, rather than in production."""

from __future__ import annotations

import asyncio
import inspect

from psycopg_pool import AsyncConnectionPool
from psycopg_pool.pool_async import WaitingClient

from api.store.pool import make_pool


def test_the_private_methods_overridden_or_called_are_still_there() -> None:
    connect = inspect.signature(AsyncConnectionPool._connect)
    assert list(connect.parameters) == ["self", "timeout"]
    assert inspect.iscoroutinefunction(AsyncConnectionPool._connect)
    add = inspect.signature(AsyncConnectionPool._add_to_pool)
    assert list(add.parameters) == ["self", "conn"]
    assert inspect.iscoroutinefunction(AsyncConnectionPool._add_to_pool)
    assert inspect.iscoroutinefunction(WaitingClient.fail)


async def test_the_private_state_read_and_changed_is_still_there() -> None:
    # No connection is made: none is asked for.
    pool = make_pool("postgresql://nowhere.invalid/none", min_size=0, max_size=2, timeout=1)
    await pool.open()
    try:
        assert isinstance(pool._lock, asyncio.Lock)
        assert pool._nconns == 0
        assert len(pool._waiting) == 0 and hasattr(pool._waiting, "clear")
    finally:
        await pool.close()
