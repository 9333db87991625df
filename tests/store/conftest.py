from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from api.store.pool import make_pool
from api.store.saver import PooledPostgresSaver
from graph import DELTA_CHANNELS

OpenSaver = Callable[..., AbstractAsyncContextManager[PooledPostgresSaver]]


@pytest.fixture
def saver_alone(new_database: str) -> OpenSaver:
    """Opens a PooledPostgresSaver (over a pool of its own) on the test's empty database, which
    nothing but the saver's own setup() prepares: no sessions schema."""

    @asynccontextmanager
    async def open_saver(
        *, cached_sessions: int = 0, keep_turns: int | None = None
    ) -> AsyncIterator[PooledPostgresSaver]:
        pool = make_pool(new_database, min_size=1, max_size=4, timeout=10)
        await pool.open()
        try:
            saver = PooledPostgresSaver(
                pool,
                delta_channels=DELTA_CHANNELS,
                cached_sessions=cached_sessions,
                keep_turns=keep_turns,
            )
            await saver.setup()
            yield saver
        finally:
            await pool.close()

    return open_saver
