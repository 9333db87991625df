"""Pages of other sites cannot make a visitor's browser change anything on the server."""

from __future__ import annotations

import json
from uuid import uuid4

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.origins import CHAT_UI, STUDIO
from tests.support.servers import serve
from tests.support.stored import CHECKPOINT_TABLES, checkpoint_rows, stored_turns

EVIL = "https://evil.example"
# What a page may send with no preflight: the body is JSON all the same, and is read as such.
SIMPLE = {"Content-Type": "text/plain;charset=UTF-8"}


def _sessions(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM chat_sessions").fetchone()
    assert row is not None
    return int(row[0])


def _run(**extra: object) -> bytes:
    body = {"assistant_id": "chat", "input": {"messages": "Hi, my name is Bob!"}, **extra}
    return json.dumps(body).encode()


def _refused(response: httpx.Response, origin: str = EVIL) -> None:
    assert response.status_code == 403
    assert response.json() == {
        "detail": f"a page of {origin} may not change anything on this server: only its own "
        "pages, LangGraph Studio and the origins in CORS_ORIGINS may"
    }
    assert "access-control-allow-origin" not in response.headers


async def test_a_foreign_page_cannot_run_a_turn_on_a_thread_of_its_choosing(
    http: httpx.AsyncClient, database_url: str, fake_model: FakeChatModel
) -> None:
    thread_id = str(uuid4())
    response = await http.post(
        f"/threads/{thread_id}/runs/wait",
        content=_run(if_not_exists="create"),
        headers={"Origin": EVIL, **SIMPLE},
    )

    _refused(response)
    assert fake_model.calls == []
    assert (await http.get(f"/threads/{thread_id}")).status_code == 404
    assert checkpoint_rows(database_url, thread_id) == dict.fromkeys(CHECKPOINT_TABLES, 0)


async def test_a_foreign_page_cannot_run_a_stateless_turn(
    http: httpx.AsyncClient, database_url: str, fake_model: FakeChatModel
) -> None:
    before = _sessions(database_url)
    response = await http.post(
        "/runs/wait", content=_run(on_completion="keep"), headers={"Origin": EVIL, **SIMPLE}
    )

    _refused(response)
    assert fake_model.calls == []
    assert _sessions(database_url) == before


async def test_a_foreign_page_cannot_create_a_session_or_talk_in_one(
    http: httpx.AsyncClient, database_url: str, fake_model: FakeChatModel
) -> None:
    session_id = await new_session(http)
    before = _sessions(database_url)

    _refused(await http.post("/chat", headers={"Origin": EVIL}))
    _refused(await http.post(f"/chat/{session_id}", content="Hi", headers={"Origin": EVIL}))

    assert _sessions(database_url) == before
    assert fake_model.calls == []
    assert await stored_turns(database_url, session_id) == []


async def test_a_foreign_page_cannot_delete_a_session(
    http: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(http)
    await say(http, session_id, "Hi, my name is Bob!")
    before = await stored_turns(database_url, session_id)

    _refused(await http.delete(f"/chat/{session_id}", headers={"Origin": EVIL}))
    _refused(await http.delete(f"/threads/{session_id}", headers={"Origin": EVIL}))

    assert await stored_turns(database_url, session_id) == before
    assert (await http.get(f"/chat/{session_id}")).status_code == 200


@pytest.mark.parametrize("origin", ["null", "http://127.0.0.1", "https://smith.langchain.com.evil"])
async def test_near_misses_are_foreign(http: httpx.AsyncClient, origin: str) -> None:
    # Sandboxed frames and file:// pages send "null"; the server's host on another port is
    # another origin.
    _refused(await http.post("/chat", headers={"Origin": origin}), origin)


async def test_reads_from_a_foreign_page_are_answered_as_before(http: httpx.AsyncClient) -> None:
    session_id = await new_session(http)
    response = await http.get(f"/chat/{session_id}", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert response.json() == []
    # CORS still keeps the page from reading the answer.
    assert "access-control-allow-origin" not in response.headers


def _own(http: httpx.AsyncClient) -> str:
    return str(http.base_url).rstrip("/")


async def _new_session(http: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await http.post("/chat", headers={"Accept": "application/json", **headers})
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


@pytest.mark.parametrize(
    "origin", [None, "own", STUDIO, "https://eu.smith.langchain.com", CHAT_UI], ids=str
)
async def test_allowed_origins_and_clients_without_one_change_state(
    http: httpx.AsyncClient, database_url: str, origin: str | None
) -> None:
    sent = _own(http) if origin == "own" else origin
    headers = {} if sent is None else {"Origin": sent}

    session_id = await _new_session(http, headers)
    response = await http.post(
        f"/threads/{session_id}/runs/wait", content=_run(), headers={**headers, **SIMPLE}
    )
    assert response.status_code == 200, response.text
    assert len(await stored_turns(database_url, session_id)) == 2
    deleted = await http.delete(f"/chat/{session_id}", headers=headers)
    assert deleted.status_code == 204


async def test_the_own_origin_is_compared_as_an_origin(http: httpx.AsyncClient) -> None:
    # A default port may be written out or left off; host names are case-insensitive.
    response = await http.post(
        "/chat", headers={"Host": "Chat.Example:80", "Origin": "http://chat.example"}
    )
    assert response.status_code == 201
    # The same host over https is another origin.
    response = await http.post(
        "/chat", headers={"Host": "chat.example", "Origin": "https://chat.example"}
    )
    _refused(response, "https://chat.example")


async def test_behind_a_proxy_the_browser_s_word_for_its_own_origin_is_taken(
    http: httpx.AsyncClient,
) -> None:
    # nginx's `proxy_set_header Host $host` drops the port the browser called.
    page = {"Host": "localhost", "Origin": "http://localhost:8000"}
    _refused(await http.post("/chat", headers=page), "http://localhost:8000")
    response = await http.post("/chat", headers={**page, "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 201


async def test_keys_do_not_let_a_foreign_page_through(
    settings: Settings, fake_model: FakeChatModel
) -> None:
    keyed = settings.model_copy(update={"api_keys": (SecretStr("the-key"),)})
    async with (
        serve(create_app(keyed, chat_model=fake_model)) as url,
        httpx.AsyncClient(base_url=url, headers={"X-Api-Key": "the-key"}) as http,
    ):
        _refused(await http.post("/chat", headers={"Origin": EVIL}))
        assert (await http.post("/chat", headers={"Origin": STUDIO})).status_code == 201


async def test_cors_origins_star_lets_any_page_through(
    settings: Settings, fake_model: FakeChatModel
) -> None:
    anyone = settings.model_copy(update={"cors_origins": ("*",)})
    async with (
        serve(create_app(anyone, chat_model=fake_model)) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        assert (await http.post("/chat", headers={"Origin": EVIL})).status_code == 201


async def test_preflights_are_answered_as_before(http: httpx.AsyncClient) -> None:
    asks = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    studio = await http.options("/runs/wait", headers={"Origin": STUDIO, **asks})
    assert studio.status_code == 200
    assert studio.headers["access-control-allow-origin"] == STUDIO
    foreign = await http.options("/runs/wait", headers={"Origin": EVIL, **asks})
    assert foreign.status_code == 400
