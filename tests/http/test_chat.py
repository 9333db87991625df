from __future__ import annotations

import asyncio
import uuid

import httpx

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import new_session, parse_sse, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve


async def test_create_session_prints_the_bare_id_for_curl(client: httpx.AsyncClient) -> None:
    response = await client.post("/chat")
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("text/plain")
    session_id = response.text.removesuffix("\n")
    assert response.text == f"{uuid.UUID(session_id)}\n"
    assert response.headers["location"] == f"/chat/{session_id}"


async def test_create_session_answers_json_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.post("/chat", headers={"Accept": "application/json"})
    assert response.status_code == 201
    session_id = response.json()["session_id"]
    assert response.headers["location"] == f"/chat/{uuid.UUID(session_id)}"


async def test_seed_demo_keeps_each_sessions_memory_apart(client: httpx.AsyncClient) -> None:
    bob = await new_session(client)
    assert "Bob" in await say(client, bob, "Hi, my name is Bob!")
    matt = await new_session(client)
    assert "Matt" in await say(client, matt, "Hi, my name is Matt!")

    assert await say(client, bob, "What's my name again?") == "Your name is Bob.\n"
    assert await say(client, matt, "What's my name again?") == "Your name is Matt.\n"


async def test_plain_text_reply_is_the_raw_reply(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    response = await client.post(f"/chat/{session_id}", content="hello there")
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.text == "You said: hello there\n"


async def test_form_encoded_body_is_read_as_raw_text(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    response = await client.post(
        f"/chat/{session_id}",
        content="a=1&b=two+words%21",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.text == "You said: a=1&b=two+words%21\n"


async def test_json_body_carries_the_message(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    response = await client.post(f"/chat/{session_id}", json={"message": "über café"})
    assert response.text == "You said: über café\n"


async def test_event_stream_frames_tokens_then_end(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    response = await client.post(
        f"/chat/{session_id}",
        content="Hi, my name is Ada",
        headers={"Accept": "text/event-stream"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    events = parse_sse(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "end" and set(names[:-1]) == {"token"} and len(names) > 2
    text = "".join(str(data["content"]) for name, data in events if name == "token")
    assert text == "Hello Ada! It's nice to meet you. How can I help you today?"
    assert events[-1][1]["message_id"]


async def test_tokens_reach_the_client_while_the_model_is_still_writing(
    client: httpx.AsyncClient, fake_model: FakeChatModel
) -> None:
    # The model writes its first token, then waits until the client has seen it: a server
    # that buffered the reply would never send that token, and the read below would time out.
    fake_model.gate = asyncio.Event()
    session_id = await new_session(client)
    async with client.stream(
        "POST",
        f"/chat/{session_id}",
        content="one two three four",
        headers={"Accept": "text/event-stream"},
    ) as response:
        chunks = response.aiter_text()
        first = await asyncio.wait_for(anext(chunks), timeout=10)
        assert parse_sse(first) == [("token", {"content": "You"})]
        fake_model.gate.set()
        rest = "".join([chunk async for chunk in chunks])
    assert [name for name, _ in parse_sse(rest)][-1] == "end"


async def test_memory_survives_a_restart(settings: Settings) -> None:
    async with (
        serve(create_app(settings, chat_model=FakeChatModel())) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        session_id = await new_session(http)
        await say(http, session_id, "Hi, my name is Bob!")

    async with (
        serve(create_app(settings, chat_model=FakeChatModel())) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        assert await say(http, session_id, "What's my name again?") == "Your name is Bob.\n"


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}
