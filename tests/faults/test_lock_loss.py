"""Two server processes on one database, and the connection that holds one process's session
locks cut while a turn streams: the turns of the session still never interleave, and every reply
a client saw end is in the history."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import psycopg

from devtools.openai_stub import StubBehaviour, fixed_reply
from devtools.processes import server_environment
from tests.support.chat_client import new_session
from tests.support.servers import two_chat_servers
from tests.support.stored import stored_turns

# The backend that holds an advisory lock of this session, in this database.
_LOCK_HOLDER = """
SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND a.datname = current_database()
AND l.classid = ((hashtextextended(%(key)s, 0) >> 32) & 4294967295)::oid
AND l.objid = (hashtextextended(%(key)s, 0) & 4294967295)::oid
"""


async def _turn(
    http: httpx.AsyncClient, session_id: str, message: str, started: asyncio.Event
) -> list[tuple[str, dict[str, object]]]:
    """A turn through the SSE stream: its events, `started` set at the first token."""
    events: list[tuple[str, dict[str, object]]] = []
    headers = {"Accept": "text/event-stream"}
    async with http.stream(
        "POST", f"/chat/{session_id}", content=message, headers=headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        name = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: ") and name is not None:
                events.append((name, json.loads(line.removeprefix("data: "))))
                if name == "token":
                    started.set()
    return events


def _assert_history_holds(turns: list[tuple[str, str]], ended: list[str]) -> None:
    kinds = [kind for kind, _ in turns]
    assert kinds == ["human", "ai"] * (len(turns) // 2), turns
    for message in ended:
        assert ("human", message) in turns


async def test_a_cut_lock_connection_lets_no_two_turns_interleave(
    scratch_dir: Path, new_database: str, openai_stub_url: str, stub_behaviour: StubBehaviour
) -> None:
    stub_behaviour.reply = fixed_reply(100)
    stub_behaviour.token_delay = 0.02
    env = server_environment(DATABASE_URL=new_database, OPENAI_BASE_URL=openai_stub_url)
    async with two_chat_servers(scratch_dir, env) as (one, two):
        session_id = await new_session(one)
        first_started, second_started = asyncio.Event(), asyncio.Event()
        first_turn = asyncio.create_task(_turn(one, session_id, "first", first_started))
        await asyncio.wait_for(first_started.wait(), timeout=30)

        with psycopg.connect(new_database, autocommit=True) as admin:
            holders = admin.execute(_LOCK_HOLDER, {"key": session_id}).fetchall()
            assert len(holders) == 1, "no process holds the session's lock: nothing to cut"
            admin.execute("SELECT pg_terminate_backend(%s)", holders[0])
        assert not first_turn.done(), "the first turn ended before its lock was cut"

        # The second process finds the lock free at once, while the first turn still runs.
        second_events = await _turn(two, session_id, "second", second_started)
        first_events = await first_turn

    outcomes = {"first": first_events[-1][0], "second": second_events[-1][0]}
    ended = [message for message, outcome in outcomes.items() if outcome == "end"]
    # The turn that saved first wins; the other is told so, and stores nothing.
    assert sorted(outcomes.values()) == ["end", "error"], outcomes
    turns = await stored_turns(new_database, session_id)
    _assert_history_holds(turns, ended)
    assert [text for kind, text in turns if kind == "human"] == ended
    failed = first_events if outcomes["first"] == "error" else second_events
    assert "another turn of this session was saved" in str(failed[-1][1]["message"])
