"""The latest state a process keeps in memory is never served unless PostgreSQL still holds it."""

from __future__ import annotations

import httpx

from api.main import create_app
from api.settings import Settings
from devtools.openai_stub import StubBehaviour
from tests.support.chat_client import new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import stored_turns

ROLES = {"user": "human", "assistant": "ai"}


async def _shown(http: httpx.AsyncClient, session_id: str) -> list[tuple[str, str]]:
    response = await http.get(f"/chat/{session_id}")
    assert response.status_code == 200
    return [(ROLES[m["role"]], m["content"]) for m in response.json()]


async def test_what_a_process_shows_is_what_postgresql_holds(
    openai_app_url: str, stub_behaviour: StubBehaviour, database_url: str
) -> None:
    async with httpx.AsyncClient(base_url=openai_app_url, timeout=30) as http:
        session_id = await new_session(http)
        for turn in range(6):
            await say(http, session_id, f"Hi, my name is Bob{turn}!")
            assert await _shown(http, session_id) == await stored_turns(database_url, session_id)
        # A turn that fails mid-reply is taken back out: memory and PostgreSQL agree.
        stub_behaviour.cut_after_tokens = 2
        await http.post(f"/chat/{session_id}", content="cut me off")
        stub_behaviour.cut_after_tokens = None
        assert await _shown(http, session_id) == await stored_turns(database_url, session_id)
        assert len(await stored_turns(database_url, session_id)) == 12
        # A run with the client's own message id and content blocks.
        blocks = [{"type": "text", "text": "What's my name again?"}]
        run = {
            "assistant_id": "chat",
            "input": {"messages": [{"type": "human", "content": blocks, "id": "client-1"}]},
        }
        assert (await http.post(f"/threads/{session_id}/runs/wait", json=run)).status_code == 200
        assert await _shown(http, session_id) == await stored_turns(database_url, session_id)
        assert (await _shown(http, session_id))[-1] == ("ai", "Your name is Bob5.")


async def test_a_turn_taken_by_another_process_is_seen(settings: Settings) -> None:
    # Two apps on one database stand for two server processes.
    async with (
        serve(create_app(settings, chat_model=FakeChatModel())) as first_url,
        serve(create_app(settings, chat_model=FakeChatModel())) as second_url,
        httpx.AsyncClient(base_url=first_url, timeout=30) as first,
        httpx.AsyncClient(base_url=second_url, timeout=30) as second,
    ):
        session_id = await new_session(first)
        await say(first, session_id, "Hi, my name is Bob!")
        assert len(await _shown(first, session_id)) == 2
        await say(second, session_id, "Hi, my name is Matt!")
        assert await say(first, session_id, "What's my name again?") == "Your name is Matt.\n"
        assert [text for _, text in await _shown(first, session_id)] == [
            text for _, text in await _shown(second, session_id)
        ]
        assert (await second.delete(f"/chat/{session_id}")).status_code == 204
        assert (await first.get(f"/chat/{session_id}")).status_code == 404


async def test_new_sessions_second_turns_see_their_first(
    client: httpx.AsyncClient, database_url: str
) -> None:
    # A new thread's first writes may be saved before the checkpoint they hang on: the state
    # kept in memory must hold them all the same.
    for attempt in range(15):
        session_id = await new_session(client)
        await say(client, session_id, f"Hi, my name is Bob{attempt}!")
        assert await say(client, session_id, "What's my name again?") == (
            f"Your name is Bob{attempt}.\n"
        )
        assert await _shown(client, session_id) == await stored_turns(database_url, session_id)
