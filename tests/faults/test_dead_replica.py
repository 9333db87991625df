"""Two server processes on one database, and the one running a turn killed (SIGKILL) or hung
(SIGSTOP) mid-reply: a client following the thread through the other one hears the turn end as
failed once its lease runs out, never waits forever, and nothing of the turn is stored, even
when the hung process wakes up and tries to save it; the thread takes new turns at once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import psycopg
import pytest

from api.conversations.failures import RUN_LOST
from devtools.openai_stub import StubBehaviour, fixed_reply
from devtools.processes import ServerProcess, server_environment
from tests.support.chat_client import eventually
from tests.support.servers import chat_server_process
from tests.support.thread_events import Frame, start_run, thread_stream, until_run_ends

BOB = "Hi, my name is Bob!"


@asynccontextmanager
async def _replicas(
    scratch_dir: Path, database_url: str, openai_stub_url: str
) -> AsyncIterator[tuple[ServerProcess, httpx.AsyncClient, httpx.AsyncClient]]:
    """Replica A (its process, a client) and a client of replica B, with a short lease."""
    env = server_environment(
        DATABASE_URL=database_url,
        OPENAI_BASE_URL=openai_stub_url,
        RUN_LEASE_SECONDS="2",
        HEARTBEAT_SECONDS="1",
    )
    async with (
        chat_server_process(scratch_dir, env) as a,
        chat_server_process(scratch_dir, env) as b,
        httpx.AsyncClient(base_url=a.url, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b.url, timeout=30) as on_b,
    ):
        yield a, on_a, on_b


async def _first_token(frames: AsyncIterator[Frame | str]) -> None:
    async for frame in frames:
        if isinstance(frame, Frame) and frame.data["params"]["data"].get("event") == (
            "content-block-delta"
        ):
            return


async def _run(on_b: httpx.AsyncClient, thread_id: str) -> dict[str, Any]:
    [run] = (await on_b.get(f"/threads/{thread_id}/runs")).json()
    return dict(run)


async def _lifecycle(database_url: str, thread_id: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute(
            "SELECT data ->> 'event' FROM chat_thread_events"
            " WHERE thread_id = %s AND method = 'lifecycle' ORDER BY seq",
            (thread_id,),
        )
        return [row[0] for row in await cur.fetchall()]


@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
async def test_a_turn_whose_server_dies_or_hangs_ends_failed_and_stores_nothing(
    fault: signal.Signals,
    scratch_dir: Path,
    database_url: str,
    openai_stub_url: str,
    stub_behaviour: StubBehaviour,
) -> None:
    stub_behaviour.reply = fixed_reply(40)
    stub_behaviour.token_delay = 0.1
    thread_id = str(uuid4())
    async with _replicas(scratch_dir, database_url, openai_stub_url) as (a, on_a, on_b):
        async with thread_stream(on_b, thread_id) as frames:
            await start_run(on_a, thread_id, BOB)
            await _first_token(frames)
            a.process.send_signal(fault)
            async with asyncio.timeout(60):  # generous: the lease is 2 s
                ending = (await until_run_ends(frames))[-1]
        assert ending.data["params"]["data"] == {
            "event": "failed",
            "graph_name": "chat",
            "error": RUN_LOST,
        }
        assert (await _run(on_b, thread_id))["status"] == "error"

        # The thread takes a new turn through B at once, even while a hung A still lives: the
        # connection holding the turn's lock was ended with it.
        async with thread_stream(on_b, thread_id, since=ending.data["seq"]) as frames:
            await start_run(on_b, thread_id, "Again")
            assert (await until_run_ends(frames))[-1].data["params"]["data"]["event"] == (
                "completed"
            )
        if fault == signal.SIGSTOP:
            # A wakes up and runs its turn to the end; its save is refused (the run was given
            # up, and B's turn was saved since): clients were told it failed.
            a.process.send_signal(signal.SIGCONT)

            async def a_gave_up() -> bool:
                return f"turn on session {thread_id} failed" in a.log

            await eventually(a_gave_up, timeout=60)

        state = (await on_b.get(f"/threads/{thread_id}/state")).json()
        assert [m["content"] for m in state["values"]["messages"]][0] == "Again"
        assert len(state["values"]["messages"]) == 2
        # One ending for the dead run, the one B wrote: what A wrote after it was refused.
        assert await _lifecycle(database_url, thread_id) == [
            "running",
            "failed",
            "running",
            "completed",
        ]
