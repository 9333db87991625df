"""Server processes that start together on a new database (`--workers 2`, replicas) all come up:
one prepares the schema while the others wait their turn."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from api.resources import open_resources
from api.settings import Settings
from tests.support.fakes import FakeChatModel


async def _start(settings: Settings) -> int:
    async with open_resources(settings, FakeChatModel()) as resources:
        async with resources.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) AS n FROM chat_migrations")
            row = await cur.fetchone()
            assert row is not None
            return int(row["n"])


async def test_processes_starting_together_on_a_new_database_all_come_up(
    settings: Settings, new_database: str
) -> None:
    settings = settings.model_copy(update={"database_url": SecretStr(new_database)})
    # Each start opens a pool of its own, as a worker process does.
    started = await asyncio.wait_for(asyncio.gather(*(_start(settings) for _ in range(3))), 60)
    assert len(set(started)) == 1
    assert started[0] > 0
