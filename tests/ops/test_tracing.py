"""LangSmith tracing through its standard variables, against a stand-in LangSmith on 127.0.0.1
that records what it receives: a real `chat-server` process, the real LangChain tracer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devtools.ports import free_port
from devtools.processes import server_environment
from tests.support.chat_client import eventually, new_session, say
from tests.support.servers import chat_server_process, serve

API_KEY = "lsv2-test-key"


@dataclass
class StandIn:
    """What the stand-in LangSmith received, and a gate that holds its answers while closed."""

    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    open: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0

    def roots(self) -> list[dict[str, Any]]:
        """The runs at the top of their trace: one per turn."""
        return [run for run in self.runs.values() if not run.get("parent_run_id")]


def _multipart_runs(content_type: str, body: bytes) -> dict[str, dict[str, Any]]:
    """LangSmith's multipart ingest: parts `post.<id>` (the run) and `post.<id>.<field>`."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    runs: dict[str, dict[str, Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        operation, run_id, *rest = str(name).split(".")
        run = runs.setdefault(run_id, {"id": run_id})
        data = json.loads(part.get_payload(decode=True))
        if rest:
            run[rest[0]] = data
        else:
            run.update(data)
        run.setdefault("operations", set()).add(operation)
    return runs


def _standin_app(standin: StandIn) -> Starlette:
    async def anything(request: Request) -> JSONResponse:
        body = await request.body()
        standin.requests.append((request.method, request.url.path, dict(request.headers)))
        if not standin.open.is_set():
            standin.held += 1
            await standin.open.wait()
        if request.url.path == "/runs/multipart":
            for run_id, run in _multipart_runs(request.headers["content-type"], body).items():
                standin.runs.setdefault(run_id, {}).update(run)
        elif request.url.path == "/runs/batch":
            batch = json.loads(body)
            for run in [*batch.get("post", []), *batch.get("patch", [])]:
                standin.runs.setdefault(run["id"], {}).update(run)
        if request.url.path == "/info":
            return JSONResponse({"version": "0.0.0-stand-in"})
        return JSONResponse({})

    methods = ["GET", "POST", "PATCH", "PUT"]
    return Starlette(routes=[Route("/{path:path}", anything, methods=methods)])


@pytest.fixture
async def langsmith() -> AsyncIterator[StandIn]:
    standin = StandIn()
    standin.open.set()
    async with serve(_standin_app(standin)) as url:
        standin.url = url
        yield standin
        standin.open.set()  # let the server's last sends through before it is stopped


def _environment(
    database_url: str, openai_stub_url: str, endpoint: str, *, tracing: bool = True, **more: str
) -> dict[str, str]:
    """The server's environment with a LangSmith key and endpoint, tracing on or off."""
    return server_environment(
        DATABASE_URL=database_url,
        OPENAI_BASE_URL=openai_stub_url,
        LANGSMITH_ENDPOINT=endpoint,
        LANGSMITH_API_KEY=API_KEY,
        **({"LANGSMITH_TRACING": "true"} if tracing else {}),
        **more,
    )


async def test_each_turn_is_a_run_in_its_sessions_thread(
    scratch_dir: Path, database_url: str, openai_stub_url: str, langsmith: StandIn
) -> None:
    env = _environment(
        database_url, openai_stub_url, langsmith.url, LANGSMITH_PROJECT="chat-server-tests"
    )
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            bob, matt = await new_session(http), await new_session(http)
            await say(http, bob, "Hi, my name is Bob!")
            await say(http, matt, "Hi, my name is Matt!")
            assert await say(http, bob, "What's my name again?") == "Your name is Bob.\n"

            async def three_turns_traced() -> bool:
                return len([r for r in langsmith.roots() if r.get("end_time")]) == 3

            await eventually(three_turns_traced, timeout=30)

    roots = langsmith.roots()
    # LangSmith groups a conversation's runs by `thread_id` in their metadata: LangGraph puts
    # the session id there, so each session reads as one thread.
    threads = sorted(run["extra"]["metadata"]["thread_id"] for run in roots)
    assert threads == sorted([bob, bob, matt])
    assert {run["name"] for run in roots} == {"chat"}
    assert {run["session_name"] for run in roots} == {"chat-server-tests"}
    assert all(run.get("outputs") and not run.get("error") for run in roots)
    # The model's runs belong to the same traces.
    traces = {run["trace_id"] for run in roots}
    assert any(
        run.get("run_type") == "llm" and run["trace_id"] in traces
        for run in langsmith.runs.values()
    )
    posts = [headers for method, path, headers in langsmith.requests if method == "POST"]
    assert posts and all(headers["x-api-key"] == API_KEY for headers in posts)
    assert server.process.returncode == 0


async def test_nothing_is_sent_unless_tracing_is_on(
    scratch_dir: Path, database_url: str, openai_stub_url: str, langsmith: StandIn
) -> None:
    env = _environment(database_url, openai_stub_url, langsmith.url, tracing=False)
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = await new_session(http)
            assert "Bob" in await say(http, session_id, "Hi, my name is Bob!")
    # The server has stopped: whatever it would have sent, it has sent by now.
    assert server.process.returncode == 0
    assert langsmith.requests == []


async def test_a_langsmith_that_does_not_answer_delays_no_reply(
    scratch_dir: Path, database_url: str, openai_stub_url: str, langsmith: StandIn
) -> None:
    langsmith.open.clear()  # every request to LangSmith waits until the test opens the gate
    env = _environment(database_url, openai_stub_url, langsmith.url)
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = await new_session(http)
            assert "Bob" in await say(http, session_id, "Hi, my name is Bob!")

            async def langsmith_is_holding_a_request() -> bool:
                return langsmith.held > 0

            await eventually(langsmith_is_holding_a_request, timeout=30)
            # LangSmith has not answered anything yet, and replies still come at once.
            assert not langsmith.runs
            assert await say(http, session_id, "What's my name?") == "Your name is Bob.\n"
            assert await say(http, await new_session(http), "one two") == "You said: one two\n"

            langsmith.open.set()

            async def all_turns_traced() -> bool:
                return len([r for r in langsmith.roots() if r.get("end_time")]) == 3

            await eventually(all_turns_traced, timeout=60)
    assert server.process.returncode == 0


async def test_a_langsmith_that_is_down_breaks_no_reply(
    scratch_dir: Path, database_url: str, openai_stub_url: str
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = _environment(database_url, openai_stub_url, nowhere)
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            session_id = await new_session(http)
            assert "Bob" in await say(http, session_id, "Hi, my name is Bob!")
            assert await say(http, session_id, "What's my name?") == "Your name is Bob.\n"
    # It stops on its own, without waiting on LangSmith for longer than the flush allows.
    assert server.process.returncode == 0
