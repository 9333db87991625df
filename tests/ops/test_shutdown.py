"""`chat-server` stopped (SIGTERM, as Docker and Kubernetes stop it) while a reply streams: the
turn is saved whole if it finishes within SHUTDOWN_GRACE_SECONDS, and not at all otherwise, its
stream then ending with the error that says so."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import pytest

from api.conversations.failures import TURN_CANCELLED
from devtools.openai_stub import StubBehaviour, fixed_reply
from devtools.processes import ServerProcess, server_environment
from devtools.replies import reply_to
from tests.support.chat_client import new_session
from tests.support.servers import chat_server_process
from tests.support.stored import stored_turns


async def _stopped_gracefully(server: ServerProcess) -> None:
    # Once shut down, uvicorn raises the signal it caught again, so the process ends by it.
    assert await asyncio.wait_for(server.process.wait(), timeout=60) == -signal.SIGTERM
    assert "Application shutdown complete." in server.log


async def test_a_reply_that_ends_within_the_grace_is_streamed_and_saved_whole(
    scratch_dir: Path, database_url: str, stub_behaviour: StubBehaviour, openai_stub_url: str
) -> None:
    stub_behaviour.token_delay = 0.2  # about 2.6 s for the whole reply
    env = server_environment(
        DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url, SHUTDOWN_GRACE_SECONDS="60"
    )
    message = "Hi, my name is Bob!"
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = await new_session(http)
            async with http.stream("POST", f"/chat/{session_id}", content=message) as response:
                texts = response.aiter_text()
                chunks = [await anext(texts)]
                server.process.send_signal(signal.SIGTERM)
                chunks += [chunk async for chunk in texts]
        await _stopped_gracefully(server)

    reply = reply_to([message])
    assert "".join(chunks) == f"{reply}\n"
    assert await stored_turns(database_url, session_id) == [("human", message), ("ai", reply)]


@pytest.mark.parametrize("event_stream", [True, False], ids=["sse", "plain-text"])
async def test_a_reply_longer_than_the_grace_ends_with_an_error_and_nothing_of_it_is_kept(
    event_stream: bool,
    scratch_dir: Path,
    database_url: str,
    stub_behaviour: StubBehaviour,
    openai_stub_url: str,
) -> None:
    stub_behaviour.reply = fixed_reply(300)
    stub_behaviour.token_delay = 0.5  # two and a half minutes: it cannot end within the grace
    env = server_environment(
        DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url, SHUTDOWN_GRACE_SECONDS="1"
    )
    headers = {"Accept": "text/event-stream"} if event_stream else {}
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = await new_session(http)
            async with http.stream(
                "POST", f"/chat/{session_id}", content="Go on", headers=headers
            ) as response:
                texts = response.aiter_text()
                chunks = [await anext(texts)]
                server.process.send_signal(signal.SIGTERM)
                chunks += [chunk async for chunk in texts]  # to its end, not a broken connection
        await _stopped_gracefully(server)

    body = "".join(chunks)
    if event_stream:
        last = body.rstrip("\n").rsplit("\n\n", 1)[-1].splitlines()
        assert last[:2] == ["event: error", f"data: {json.dumps({'message': TURN_CANCELLED})}"]
        assert last[2:3] and last[2].startswith("id: ")  # what a client would resume from
    else:
        assert body.endswith(f"\n[error: the reply was cut off: {TURN_CANCELLED}]\n")
    assert await stored_turns(database_url, session_id) == []
    # uvicorn stopped waiting for the open response after the grace; the stream went on until the
    # app, stopping, cancelled its turn, and ended with that. One warning line, no traceback.
    assert "timeout graceful shutdown exceeded" in server.log
    assert server.log.count("the server stopped waiting for this stream") == 1
    assert "Traceback" not in server.log
