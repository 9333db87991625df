from __future__ import annotations

import hashlib
import uuid

import httpx
import psycopg
import pytest

from tests.support.chat_client import new_session, say


def as_key(url: str, key: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=30)


def every_endpoint(session_id: str) -> list[tuple[str, str]]:
    return [
        ("POST", "/chat"),
        ("GET", "/chat"),
        ("GET", f"/chat/{session_id}"),
        ("POST", f"/chat/{session_id}"),
        ("DELETE", f"/chat/{session_id}"),
    ]


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert isinstance(response.json()["detail"], str)


async def test_every_endpoint_wants_a_key(keyed_url: str, keyed_client: httpx.AsyncClient) -> None:
    session_id = await new_session(keyed_client)
    async with as_key(keyed_url, None) as anonymous:
        for method, path in every_endpoint(session_id):
            assert_unauthorized(await anonymous.request(method, path, content="hello"))
    assert (await keyed_client.get(f"/chat/{session_id}")).json() == []


@pytest.mark.parametrize(
    "authorization",
    ["Bearer wrong-key", "Bearer", "Basic dXNlcjpwYXNz", "wrong-key", "Bearer key-a"],
)
async def test_a_wrong_key_is_401(
    keyed_url: str, keyed_client: httpx.AsyncClient, authorization: str
) -> None:
    session_id = await new_session(keyed_client)
    async with httpx.AsyncClient(
        base_url=keyed_url, headers={"Authorization": authorization}
    ) as http:
        for method, path in every_endpoint(session_id):
            assert_unauthorized(await http.request(method, path, content="hello"))


async def test_a_key_is_checked_before_the_session_id(keyed_url: str) -> None:
    # Without a key, nothing is said about which ids exist, nor about their form.
    async with as_key(keyed_url, None) as anonymous:
        assert_unauthorized(await anonymous.get(f"/chat/{uuid.uuid4()}"))
        assert_unauthorized(await anonymous.get("/chat/not-a-uuid"))
        assert_unauthorized(await anonymous.get("/chat", params={"limit": 0}))


async def test_probes_and_docs_need_no_key(keyed_url: str) -> None:
    async with as_key(keyed_url, None) as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        assert (await anonymous.get("/readyz")).status_code == 200
        assert (await anonymous.get("/docs")).status_code == 200
        schema = (await anonymous.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path in ("/chat", "/chat/{session_id}"):
        for operation in schema["paths"][path].values():
            assert operation["security"] == [{"HTTPBearer": []}, {"APIKeyHeader": []}]
            assert "401" in operation["responses"]
    assert "security" not in schema["paths"]["/healthz"]["get"]


async def test_every_key_in_the_list_works(keyed_url: str, api_keys: tuple[str, str]) -> None:
    for key in api_keys:
        async with as_key(keyed_url, key) as http:
            session_id = await new_session(http)
            assert await say(http, session_id, "hello") == "You said: hello\n"


async def test_a_session_is_only_its_keys(keyed_url: str, api_keys: tuple[str, str]) -> None:
    key_a, key_b = api_keys
    async with as_key(keyed_url, key_a) as alice, as_key(keyed_url, key_b) as bob:
        mine = await new_session(alice)
        await say(alice, mine, "Hi, my name is Alice!")
        theirs = await new_session(bob)

        for method, path in every_endpoint(mine)[2:]:
            response = await bob.request(method, path, content="What's my name?")
            assert response.status_code == 404, (method, response.text)
            assert response.json() == {"detail": "no such session"}
        listed = (await bob.get("/chat")).json()
        assert [s["session_id"] for s in listed["sessions"]] == [theirs]

        # Bob's attempts changed nothing: Alice's session is whole and still hers.
        assert [m["content"] for m in (await alice.get(f"/chat/{mine}")).json()] == [
            "Hi, my name is Alice!",
            "Hello Alice! It's nice to meet you. How can I help you today?",
        ]
        assert await say(alice, mine, "What's my name?") == "Your name is Alice.\n"
        assert [s["session_id"] for s in (await alice.get("/chat")).json()["sessions"]] == [mine]
        assert (await alice.delete(f"/chat/{mine}")).status_code == 204


async def test_the_owner_is_stored_as_a_digest_of_the_key(
    keyed_client: httpx.AsyncClient, api_keys: tuple[str, str], database_url: str
) -> None:
    session_id = await new_session(keyed_client)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT owner FROM chat_sessions WHERE id = %s", (session_id,))
        row = await cur.fetchone()
    assert row is not None
    assert row[0] == hashlib.sha256(api_keys[0].encode()).hexdigest()


async def test_open_mode_needs_no_key_and_ignores_one(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    assert await say(client, session_id, "hello") == "You said: hello\n"
    response = await client.get(f"/chat/{session_id}", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 200
    assert len(response.json()) == 2
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT owner FROM chat_sessions WHERE id = %s", (session_id,))
        assert await cur.fetchone() == ("",)


async def test_sessions_of_open_mode_are_no_keys(
    client: httpx.AsyncClient, keyed_client: httpx.AsyncClient
) -> None:
    session_id = await new_session(client)
    assert (await keyed_client.get(f"/chat/{session_id}")).status_code == 404
