"""One turn at a time per session, in arrival order, in one process and across processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg

from api.store.lock_keys import LOCK_HELD
from devtools.openai_stub import StubBehaviour
from devtools.processes import server_environment
from tests.support.chat_client import new_session
from tests.support.fakes import FakeChatModel
from tests.support.servers import two_chat_servers
from tests.support.stored import stored_turns

MESSAGES = [f"message {i}" for i in range(10)]


def assert_each_message_followed_by_its_reply(turns: list[tuple[str, str]]) -> None:
    assert len(turns) == 2 * len(MESSAGES)
    pairs = list(zip(turns[::2], turns[1::2], strict=True))
    for (human_type, message), (ai_type, reply) in pairs:
        assert (human_type, ai_type) == ("human", "ai")
        assert reply == f"You said: {message}"
    assert sorted(message for (_, message), _ in pairs) == sorted(MESSAGES)


async def _send_all_at_once(clients: list[httpx.AsyncClient], session_id: str) -> None:
    responses = await asyncio.gather(
        *(
            clients[i % len(clients)].post(f"/chat/{session_id}", content=message)
            for i, message in enumerate(MESSAGES)
        )
    )
    assert [r.status_code for r in responses] == [200] * len(MESSAGES)
    assert sorted(r.text for r in responses) == sorted(f"You said: {m}\n" for m in MESSAGES)


async def test_simultaneous_messages_to_one_session_are_all_kept_in_order(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    fake_model.delay = 0.01
    session_id = await new_session(client)
    await _send_all_at_once([client], session_id)
    assert_each_message_followed_by_its_reply(await stored_turns(database_url, session_id))


async def test_simultaneous_messages_through_two_server_processes(
    scratch_dir: Path, database_url: str, openai_stub_url: str, stub_behaviour: StubBehaviour
) -> None:
    stub_behaviour.token_delay = 0.01
    env = server_environment(DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url)
    async with two_chat_servers(scratch_dir, env) as (one, two):
        session_id = await new_session(one)
        await _send_all_at_once([one, two], session_id)
    assert_each_message_followed_by_its_reply(await stored_turns(database_url, session_id))


async def test_a_turn_ends_for_its_client_only_once_its_session_is_free(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    held = f"SELECT {LOCK_HELD.format(key='%(key)s')}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        for i in range(20):
            async with client.stream(
                "POST",
                f"/chat/{session_id}",
                content=f"message {i}",
                headers={"Accept": "text/event-stream"},
            ) as response:
                async for line in response.aiter_lines():
                    if line == "event: end":
                        # The next turn of this client must not queue behind this one.
                        row = admin.execute(held, {"key": session_id}).fetchone()
                        assert row == (False,), f"turn {i}: the session was still locked"
