"""One scenario: two server processes on an empty database, the load, one fault, and what held."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from devtools.ports import free_port
from devtools.processes import ServerProcess, server_environment, server_process
from faults.checks import Message, Tally, tally
from faults.injections import Fault, Stage
from faults.load import Load, Outcome, Turn
from faults.postgres import OwnedPostgres

CHAT_SERVER = str(Path(sys.executable).parent / "chat-server")
# Generous: no timing is asserted, a deadline only tells a wedge from a slow machine.
RECOVERY_TIMEOUT_SECONDS = 60.0
LOAD_TIMEOUT_SECONDS = 120.0
# Long enough for every reply running at a SIGTERM to end within the drain.
SHUTDOWN_GRACE_SECONDS = "20"


@dataclass(frozen=True)
class Place:
    """Where a scenario runs: an empty database of its own, the model stub (its base URL, with
    /v1), a working directory; and the PostgreSQL server, if the suite owns it."""

    database_url: str
    model_url: str
    workdir: Path
    postgres: OwnedPostgres | None = None


@dataclass(frozen=True)
class Shape:
    sessions: int = 4
    turns: int = 40  # at least this many turns, all clients together
    words: int = 20  # the length of a message, and so of its echoed reply, in tokens


@dataclass
class Result:
    fault: Fault
    tally: Tally
    recovery_seconds: float | None  # until every session had a turn saved that it sent after
    seconds: float
    logs: list[str]

    @property
    def problems(self) -> list[str]:
        return self.tally.problems

    def explain(self) -> str:
        lines = [f"{self.fault.slug}: {self.tally}", *self.problems]
        for index, log in enumerate(self.logs):
            errors = [line for line in log.splitlines() if "ERROR" in line or "Traceback" in line]
            lines += [f"server {index} logged:", *errors[-20:]]
        return "\n".join(lines)


async def run(fault: Fault, place: Place, shape: Shape) -> Result:
    started = time.monotonic()
    await _alter_database(place.database_url, fault.database_settings)
    env = server_environment(
        DATABASE_URL=place.database_url,
        OPENAI_BASE_URL=place.model_url,
        LOG_LEVEL="warning",
        SHUTDOWN_GRACE_SECONDS=SHUTDOWN_GRACE_SECONDS,
    )
    async with _chat_servers(place.workdir, env) as servers:
        urls = [server.url for server in servers]
        sessions = [await _new_session(urls[index % 2]) for index in range(shape.sessions)]
        async with Load(urls, sessions, words=shape.words) as load:
            running = asyncio.create_task(load.run())
            try:
                await load.warmed_up()
                stage = Stage(place.database_url, servers, load, place.postgres)
                struck = await fault.inject(stage)
                recovered = await load.every_session_saved_since(struck, RECOVERY_TIMEOUT_SECONDS)
                if recovered:
                    await load.sent(shape.turns, LOAD_TIMEOUT_SECONDS)
            finally:
                load.stop()
                await running
            live = [i for i, server in enumerate(servers) if server.process.returncode is None]
            final_turns = await asyncio.gather(*(_service_back(load, s, live) for s in sessions))
        histories = {session: await _history(urls[live[0]], session) for session in sessions}
    result = Result(
        fault,
        tally(load.turns, histories),
        max(load.saved_since(struck).values()) - struck if recovered else None,
        time.monotonic() - started,
        [server.log for server in servers],
    )
    _check_scenario(result, load, [t for turns in final_turns for t in turns], servers)
    return result


def _check_scenario(
    result: Result, load: Load, final_turns: list[Turn], servers: list[ServerProcess]
) -> None:
    problems, fault = result.problems, result.fault
    if result.recovery_seconds is None:
        problems.append(f"not every session had a turn saved within {RECOVERY_TIMEOUT_SECONDS} s")
    if unsaved := [turn for turn in final_turns if turn.outcome != Outcome.SAVED]:
        problems.append(f"service not back: {[(t.outcome, t.detail) for t in unsaved]}")
    if not fault.may_fail_mid_reply:
        if broken := [t for t in load.turns if t.outcome == Outcome.FAILED and t.status == 200]:
            problems.append(
                f"{len(broken)} turns failed after their reply began: {broken[0].detail}"
            )
    if fault.stops_server is None and result.tally.cut:
        problems.append(f"{result.tally.cut} turns cut off, though every server kept running")
    if fault.stops_server == "drained":
        if cut := [t for t in load.turns if t.server == 0 and t.outcome == Outcome.CUT]:
            problems.append(f"{len(cut)} turns cut off by the drain: {cut[0].detail}")
        # uvicorn ends a graceful shutdown by raising the signal it caught once more.
        if servers[0].process.returncode not in (0, -signal.SIGTERM):
            problems.append(f"the drained server exited with {servers[0].process.returncode}")


async def _service_back(load: Load, session: str, servers: list[int]) -> list[Turn]:
    """Once the load is over, one more turn of the session through each running server."""
    return [await load.send(session, 2, server, event_stream=True) for server in servers]


@asynccontextmanager
async def _chat_servers(workdir: Path, env: dict[str, str]) -> AsyncIterator[list[ServerProcess]]:
    """Two `chat-server` processes on one database, each stopped at the end unless it exited."""
    async with AsyncExitStack() as stack:
        servers = []
        for _ in range(2):
            port = free_port()
            command = [CHAT_SERVER, "--port", str(port)]
            started = server_process(command, port=port, ready_path="/readyz", cwd=workdir, env=env)
            servers.append(await stack.enter_async_context(started))
        yield servers


async def _alter_database(url: str, settings: Mapping[str, str]) -> None:
    name = str(conninfo_to_dict(url)["dbname"])
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for setting, value in settings.items():
            statement = sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)
            )
            await conn.execute(statement)


async def _new_session(url: str) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post("/chat", headers={"Accept": "application/json"})
    response.raise_for_status()
    return str(response.json()["session_id"])


async def _history(url: str, session: str) -> list[Message]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.get(f"/chat/{session}")
    response.raise_for_status()
    messages: list[Message] = response.json()
    return messages
