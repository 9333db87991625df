"""While PostgreSQL refuses connections, every route answers 503 at once rather than after the
pool's timeout, and service comes back by itself once it accepts them again."""

from __future__ import annotations

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import eventually, new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import stored_turns

UNAVAILABLE = {"detail": "the database is unavailable; try again shortly"}


async def _allow_connections(server_url: str, url: str, allow: bool) -> None:
    """Lets the database of `url` take connections or not; not: its sessions are ended too."""
    name = str(conninfo_to_dict(url)["dbname"])
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(name), sql.Literal(allow)
            )
        )
        if not allow:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )


async def test_every_route_answers_503_at_once_and_service_comes_back(
    settings: Settings, postgres_server_url: str, new_database: str
) -> None:
    settings = settings.model_copy(
        update={"database_url": SecretStr(new_database), "db_pool_timeout_seconds": 30.0}
    )
    app = create_app(settings, chat_model=FakeChatModel())
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        session_id = await new_session(http)
        assert await say(http, session_id, "before") == "You said: before\n"
        routes = [
            ("POST", "/chat", None),
            ("GET", "/chat", None),
            ("GET", f"/chat/{session_id}", None),
            ("POST", f"/chat/{session_id}", "during"),
            ("POST", "/threads/search", "{}"),
            ("GET", f"/threads/{session_id}", None),
        ]

        await _allow_connections(postgres_server_url, new_database, False)
        try:
            # A client that gives up long before the pool's 30 s timeout still gets its answer:
            # the first requests find the connections dead, the later ones a known outage.
            async with httpx.AsyncClient(base_url=url, timeout=5) as impatient:
                for _ in range(3):
                    ready = await impatient.get("/readyz")
                    assert ready.status_code == 503
                    assert ready.json()["status"] == "unavailable"
                    for method, path, body in routes:
                        response = await impatient.request(method, path, content=body)
                        assert (response.status_code, response.json()) == (503, UNAVAILABLE), path
                    assert (await impatient.get("/healthz")).status_code == 200
        finally:
            await _allow_connections(postgres_server_url, new_database, True)

        async def served_again() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await eventually(served_again, timeout=30)
        for method, path, _ in routes[:3]:
            assert (await http.request(method, path)).status_code in (200, 201), path
        assert await say(http, session_id, "after") == "You said: after\n"
    assert await stored_turns(new_database, session_id) == [
        ("human", "before"),
        ("ai", "You said: before"),
        ("human", "after"),
        ("ai", "You said: after"),
    ]
