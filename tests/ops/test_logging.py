"""Request ids and log lines, as the people who run the server read them: a real `chat-server`
process, its stderr parsed line by line."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.openai_stub import StubBehaviour
from devtools.processes import server_environment
from devtools.replies import reply_to, tokens
from tests.support.chat_client import eventually, new_session
from tests.support.servers import chat_server_process
from tests.support.stored import stored_turns

HEX_ID = re.compile(r"[0-9a-f]{32}")


def _json_lines(log: str) -> list[dict[str, Any]]:
    """Every line of the log as JSON: a line that is not JSON fails the test."""
    return [json.loads(line) for line in log.splitlines() if line]


def _access_lines(lines: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    access = [line for line in lines if line["logger"] == "chat_server.access"]
    return [line for line in access if line["path"] == path]


async def test_request_ids_are_echoed_or_made(client: httpx.AsyncClient) -> None:
    made = await client.get("/healthz")
    assert HEX_ID.fullmatch(made.headers["x-request-id"])

    sent = "req-2026-11-27.42:abc"
    echoed = await client.get("/healthz", headers={"X-Request-ID": sent})
    assert echoed.headers["x-request-id"] == sent

    # Spaces or an overlong id could garble a log line: a new id is made instead.
    for insane in ("two words", "x" * 200, 'quote"d'):
        replaced = await client.get("/healthz", headers={"X-Request-ID": insane})
        assert HEX_ID.fullmatch(replaced.headers["x-request-id"])

    # Every request its own id.
    assert made.headers["x-request-id"] != (await client.get("/healthz")).headers["x-request-id"]


def _json_logs(database_url: str, openai_stub_url: str) -> dict[str, str]:
    return server_environment(
        DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url, LOG_FORMAT="json"
    )


async def test_json_logs_have_one_access_line_per_request_with_the_turn(
    scratch_dir: Path, database_url: str, openai_stub_url: str
) -> None:
    env = _json_logs(database_url, openai_stub_url)
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = await new_session(http)
            reply = await http.post(
                f"/chat/{session_id}",
                content="Hi, my name is Bob!",
                headers={"X-Request-ID": "turn-1"},
            )
            missing = await http.post(
                "/chat/00000000-0000-4000-8000-000000000000",
                content="Anyone?",
                headers={"X-Request-ID": "turn-2"},
            )
    assert reply.headers["x-request-id"] == "turn-1"
    assert missing.status_code == 404

    lines = _json_lines(server.log)
    assert {"timestamp", "level", "logger", "message"} <= set(lines[0])
    [turn] = _access_lines(lines, f"/chat/{session_id}")
    assert turn["request_id"] == "turn-1"
    assert turn["method"] == "POST" and turn["status"] == 200
    assert turn["session_id"] == session_id
    assert turn["tokens"] == len(tokens(reply.text.strip()))
    assert 0 < turn["ttft_ms"] <= turn["duration_ms"]
    assert turn["message"] == f"POST /chat/{session_id} 200"

    [refused] = _access_lines(lines, "/chat/00000000-0000-4000-8000-000000000000")
    assert refused["status"] == 404 and refused["request_id"] == "turn-2"
    assert refused["tokens"] == 0 and "ttft_ms" not in refused

    # One line per request: the session's creation, the two turns, and readiness probes.
    [created] = _access_lines(lines, "/chat")
    assert created["status"] == 201 and HEX_ID.fullmatch(created["request_id"])
    assert not any(line["logger"] == "uvicorn.access" for line in lines)


@pytest.fixture
def slow_stub(stub_behaviour: StubBehaviour) -> StubBehaviour:
    stub_behaviour.token_delay = 0.1
    return stub_behaviour


async def test_a_turn_that_outlives_its_client_logs_under_its_request_id(
    scratch_dir: Path, database_url: str, slow_stub: StubBehaviour, openai_stub_url: str
) -> None:
    env = _json_logs(database_url, openai_stub_url)
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = await new_session(http)
            async with http.stream(
                "POST",
                f"/chat/{session_id}",
                content="Hi, my name is Bob!",
                headers={"X-Request-ID": "gone-early"},
            ) as response:
                await asyncio.wait_for(anext(response.aiter_text()), timeout=10)
            # The client has gone; the turn goes on (ON_DISCONNECT=continue) and is saved.

            async def saved() -> bool:
                return len(await stored_turns(database_url, session_id)) == 2

            await eventually(saved, timeout=30)

            async def turn_logged() -> bool:
                return "after its response" in server.log

            await eventually(turn_logged)

    lines = _json_lines(server.log)
    [access] = _access_lines(lines, f"/chat/{session_id}")
    assert access["request_id"] == "gone-early" and access["cut_short"] is True
    [turn] = [line for line in lines if "after its response" in line["message"]]
    assert turn["request_id"] == "gone-early"
    assert turn["logger"] == "chat_server.turns"
    assert turn["outcome"] == "completed" and turn["session_id"] == session_id
    assert 1 <= access["tokens"] <= turn["tokens"]
    assert turn["tokens"] == len(tokens(reply_to(["Hi, my name is Bob!"])))


async def test_text_logs_stay_readable_and_carry_the_request_id(
    scratch_dir: Path, database_url: str, openai_stub_url: str
) -> None:
    env = server_environment(DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url)
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await http.get("/healthz", headers={"X-Request-ID": "probe-7"})

    [line] = [line for line in server.log.splitlines() if "request_id=probe-7" in line]
    assert not line.startswith("{")
    assert "GET /healthz 200" in line and "[chat_server.access]" in line
    assert "\x1b[" not in server.log  # no colours when stderr is not a terminal
