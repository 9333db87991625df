from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

import httpx
import pytest

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import new_session, parse_sse, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import CHECKPOINT_TABLES, checkpoint_rows


async def list_all(http: httpx.AsyncClient, limit: int) -> list[list[str]]:
    """Every page of GET /chat, following next_cursor; each page as its session ids."""
    pages: list[list[str]] = []
    params: dict[str, str | int] = {"limit": limit}
    while True:
        response = await http.get("/chat", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([s["session_id"] for s in body["sessions"]])
        if body["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": body["next_cursor"]}


async def test_history_is_the_conversation_in_order(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    await say(client, session_id, "Hi, my name is Bob!")
    response = await client.post(
        f"/chat/{session_id}",
        content="What's my name again?",
        headers={"Accept": "text/event-stream"},
    )
    reply_id = parse_sse(response.text)[-1][1]["message_id"]

    response = await client.get(f"/chat/{session_id}")
    assert response.status_code == 200
    history = response.json()
    assert [(m["role"], m["content"]) for m in history] == [
        ("user", "Hi, my name is Bob!"),
        ("assistant", "Hello Bob! It's nice to meet you. How can I help you today?"),
        ("user", "What's my name again?"),
        ("assistant", "Your name is Bob."),
    ]
    assert history[-1]["id"] == reply_id
    ids = [m["id"] for m in history]
    assert all(ids) and len(set(ids)) == len(ids)


async def test_history_of_a_new_session_is_empty(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    response = await client.get(f"/chat/{session_id}")
    assert response.status_code == 200
    assert response.json() == []


async def test_history_leaves_out_the_system_prompt(
    settings: Settings, fake_model: FakeChatModel
) -> None:
    prompted = settings.model_copy(update={"system_prompt": "You are terse."})
    async with (
        serve(create_app(prompted, chat_model=fake_model)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        session_id = await new_session(http)
        await say(http, session_id, "hello")
        history = (await http.get(f"/chat/{session_id}")).json()
    assert [m["role"] for m in history] == ["user", "assistant"]
    assert fake_model.calls[-1][0].type == "system"


def _every_endpoint(session_id: object) -> list[tuple[str, str, str | None]]:
    """Each request on /chat/{id}: read the history, send a message, delete."""
    url = f"/chat/{session_id}"
    return [("GET", url, None), ("POST", url, "hello"), ("DELETE", url, None)]


async def test_unknown_session_is_404_on_every_endpoint(client: httpx.AsyncClient) -> None:
    for method, url, content in _every_endpoint(uuid.uuid4()):
        response = await client.request(method, url, content=content)
        assert response.status_code == 404, method
        assert response.json() == {"detail": "no such session"}


@pytest.mark.parametrize(
    "session_id",
    ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g", "%00", "' OR 1=1 --"],
    ids=["words", "number", "bad-hex", "nul", "sql"],
)
async def test_session_id_that_is_not_a_uuid_is_422_on_every_endpoint(
    client: httpx.AsyncClient, fake_model: FakeChatModel, session_id: str
) -> None:
    for method, url, content in _every_endpoint(session_id):
        response = await client.request(method, url, content=content)
        assert response.status_code == 422, (method, response.text)
        assert response.headers["content-type"] == "application/json"
        [error] = response.json()["detail"]
        assert error["loc"] == ["path", "session_id"]
    assert fake_model.calls == []


async def test_delete_removes_the_session_and_every_checkpoint(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, "Hi, my name is Ada")
    await say(client, session_id, "What's my name?")
    assert checkpoint_rows(database_url, session_id)["checkpoints"] > 0

    response = await client.delete(f"/chat/{session_id}")
    assert response.status_code == 204
    assert response.content == b""
    assert checkpoint_rows(database_url, session_id) == dict.fromkeys(CHECKPOINT_TABLES, 0)

    assert (await client.get(f"/chat/{session_id}")).status_code == 404
    assert (await client.post(f"/chat/{session_id}", content="hello?")).status_code == 404
    assert (await client.delete(f"/chat/{session_id}")).status_code == 404
    assert checkpoint_rows(database_url, session_id) == dict.fromkeys(CHECKPOINT_TABLES, 0)


async def test_delete_leaves_other_sessions_alone(keyed_client: httpx.AsyncClient) -> None:
    http = keyed_client
    kept = await new_session(http)
    await say(http, kept, "Hi, my name is Bob!")
    gone = await new_session(http)
    await say(http, gone, "Hi, my name is Matt!")

    assert (await http.delete(f"/chat/{gone}")).status_code == 204
    assert len((await http.get(f"/chat/{kept}")).json()) == 2
    assert await say(http, kept, "What's my name again?") == "Your name is Bob.\n"
    assert await list_all(http, 100) == [[kept]]


async def test_delete_during_a_turn_waits_for_it_then_removes_its_checkpoint(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    fake_model.gate = asyncio.Event()
    session_id = await new_session(client)
    async with client.stream("POST", f"/chat/{session_id}", content="one two three") as turn:
        chunks = turn.aiter_text()
        assert await asyncio.wait_for(anext(chunks), timeout=10) == "You"

        deleting = asyncio.create_task(client.delete(f"/chat/{session_id}"))
        # The row goes at once: the session is unknown while the turn still runs...
        async with asyncio.timeout(10):
            while (await client.get(f"/chat/{session_id}")).status_code != 404:
                await asyncio.sleep(0.02)
        # A message sent now waits for the running turn, then finds no session.
        queued = asyncio.create_task(client.post(f"/chat/{session_id}", content="more"))
        # ...but its checkpoints wait for the turn to end.
        await asyncio.sleep(0.3)
        assert not deleting.done()
        assert not queued.done()

        fake_model.gate.set()
        rest = "".join([chunk async for chunk in chunks])
    assert rest == " said: one two three\n"
    assert (await asyncio.wait_for(deleting, timeout=10)).status_code == 204
    assert (await asyncio.wait_for(queued, timeout=10)).status_code == 404
    assert checkpoint_rows(database_url, session_id) == dict.fromkeys(CHECKPOINT_TABLES, 0)


# Every test shares one database: the listings below use a key of their own to see only theirs.


async def test_list_pages_newest_first_without_repeats(keyed_client: httpx.AsyncClient) -> None:
    created = [await new_session(keyed_client) for _ in range(5)]

    pages = await list_all(keyed_client, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [s for page in pages for s in page] == created[::-1]

    everything = (await keyed_client.get("/chat")).json()
    assert [s["session_id"] for s in everything["sessions"]] == created[::-1]
    assert everything["next_cursor"] is None
    stamps = [datetime.fromisoformat(s["created_at"]) for s in everything["sessions"]]
    assert stamps == sorted(stamps, reverse=True)
    assert all(stamp.tzinfo is not None for stamp in stamps)


async def test_list_with_a_full_last_page_has_no_next_cursor(
    keyed_client: httpx.AsyncClient,
) -> None:
    created = [await new_session(keyed_client) for _ in range(4)]
    assert await list_all(keyed_client, limit=2) == [created[:1:-1], created[1::-1]]


async def test_list_of_nothing_is_empty(keyed_client: httpx.AsyncClient) -> None:
    response = await keyed_client.get("/chat")
    assert response.status_code == 200
    assert response.json() == {"sessions": [], "next_cursor": None}


async def test_list_of_open_mode_holds_sessions_made_without_a_key(
    client: httpx.AsyncClient,
) -> None:
    created = [await new_session(client) for _ in range(3)]
    first = (await client.get("/chat", params={"limit": 3})).json()
    assert [s["session_id"] for s in first["sessions"]] == created[::-1]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten"])
async def test_list_refuses_a_limit_outside_1_to_100(client: httpx.AsyncClient, limit: str) -> None:
    response = await client.get("/chat", params={"limit": limit})
    assert response.status_code == 422


@pytest.mark.parametrize("cursor", ["", "not a cursor", "AAAA", "x" * 33, "%%%"])
async def test_list_refuses_a_malformed_cursor(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get("/chat", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("malformed cursor")
