"""The storage part: one long conversation per server, its turns' cost and what it leaves in
PostgreSQL, at several lengths.

Each server (one worker, MAX_CONTEXT_TOKENS bounding the model's window) has a database of its
own with one session in it; the servers take turns, one turn at a time, on the same messages.
The figures count every table of the server's database, whatever its layout: sizes as left
(no VACUUM), rows, and the WAL written for that database alone (read back with pg_walinspect).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import zip_longest

import httpx

from bench.footprint import Database, WalReader, open_wal_reader
from bench.load import chat_turn, create_session, make_message
from bench.parts import Setting, progress
from bench.plan import Plan
from bench.postgres import backend_pids, throwaway_database
from bench.processes import Service, chat_server
from bench.results import PeakMemory, Results, StorageRun, Target, Window
from bench.stub import Shape, reply_tokens_for, reshape

STORAGE_POOL_SIZE = 4
# Time for a server to finish what a turn does after its last event, before the WAL is read.
SETTLE_SECONDS = 0.3
# The timed turns have a one-token reply, so that their time is the turn's and not the tokens'.
TIMED = Shape(0.0, 1)


@dataclass
class Conversation:
    """One server's session, and all that it was sent and answered."""

    target: Target
    service: Service
    database: Database
    http: httpx.AsyncClient
    session: str = ""
    expected: list[tuple[str, str]] = field(default_factory=list)
    raw_bytes: int = 0
    durations: list[float] = field(default_factory=list)

    async def turn(self, message: str) -> None:
        outcome = await chat_turn(self.http, self.session, message)
        if outcome.error is not None:
            turn = len(self.expected) // 2 + 1
            raise SystemExit(f"bench: storage, {self.target.label}, turn {turn}: {outcome.error}")
        self.expected += [("user", message), ("assistant", outcome.reply)]
        self.raw_bytes += len(message.encode()) + len(outcome.reply.encode())
        self.durations.append(outcome.latency)

    async def history(self) -> tuple[str, float]:
        """Whether GET /chat/{id} gives back every message as it was, and how long it took."""
        began = time.perf_counter()
        response = await self.http.get(
            f"/chat/{self.session}", headers={"Accept": "application/json"}
        )
        seconds = time.perf_counter() - began
        if response.status_code != 200:
            return f"HTTP {response.status_code}", seconds
        got = [(m.get("role"), m.get("content")) for m in response.json()]
        if got == self.expected:
            return "complete", seconds
        pairs = list(zip_longest(got, self.expected))
        wrong = next(i for i, (have, want) in enumerate(pairs) if have != want)
        have, want = (_brief(message) for message in pairs[wrong])
        return (
            f"{len(got)} of {len(self.expected)} messages; #{wrong + 1} is {have}, not {want}",
            seconds,
        )


def _brief(message: tuple[str, str] | None) -> str:
    if message is None:
        return "missing"
    role, content = message
    return f"{role} `{content[:24]}…`" if len(content) > 24 else f"{role} `{content}`"


def windows(plan: Plan) -> Iterator[tuple[int, int]]:
    """(first, last) turn of the window timed before each length: up to `window_turns` turns,
    none of them in an earlier window, nor the first, a fresh server's first turn."""
    previous = 1
    for turns in plan.storage_turns:
        yield max(previous + 1, turns - plan.window_turns + 1), turns
        previous = turns


@dataclass
class _Mark:
    cpu: dict[str, float]
    lsn: str | None
    durations: dict[str, int]


def _mark(conversations: list[Conversation], wal: WalReader | None) -> _Mark:
    return _Mark(
        cpu={c.target.kind: c.service.cpu_seconds() for c in conversations},
        lsn=wal.lsn() if wal else None,
        durations={c.target.kind: len(c.durations) for c in conversations},
    )


def _measure(
    conversation: Conversation, turns: int, mark: _Mark, wal: WalReader | None, end: str | None
) -> StorageRun:
    kind = conversation.target.kind
    written = (
        wal.written(conversation.database, mark.lsn, end) if wal and mark.lsn and end else None
    )
    window = Window(
        durations=conversation.durations[mark.durations[kind] :],
        cpu_seconds=conversation.service.cpu_seconds() - mark.cpu[kind],
        wal_bytes=written[0] if written else None,
        wal_fpi_bytes=written[1] if written else None,
    )
    return StorageRun(
        target=conversation.target,
        turns=turns,
        raw_bytes=conversation.raw_bytes,
        window=window,
        rows=conversation.database.rows(),
        bytes_as_left=conversation.database.sizes(),
    )


async def converse(
    plan: Plan, conversations: list[Conversation], wal: WalReader | None, stub_url: str
) -> list[StorageRun]:
    """Turns to every server alike, each alone in its turn; a window of timed turns before
    each length. The blocking calls between turns (stub, PostgreSQL, /proc) hold up nothing:
    one turn at a time is all that runs."""
    talk = Shape(0.0, reply_tokens_for(plan.message_chars))
    reshape(stub_url, talk)
    for conversation in conversations:
        conversation.session = await create_session(conversation.http, "chat")
    rng = random.Random(7)
    found: list[StorageRun] = []
    for first, last in windows(plan):
        while len(conversations[0].expected) // 2 < first - 1:
            await _turn_each(conversations, make_message(rng, plan.message_chars))
        reshape(stub_url, TIMED)
        mark = _mark(conversations, wal)
        for _ in range(first, last + 1):
            await _turn_each(conversations, make_message(rng, plan.message_chars))
        await asyncio.sleep(SETTLE_SECONDS)
        end = wal.lsn() if wal else None
        reshape(stub_url, talk)
        for conversation in conversations:
            run = _measure(conversation, last, mark, wal, end)
            found.append(run)
            progress(
                f"storage      {run.target.label:<15} {last} turns: turn "
                f"{run.window.turn_ms:.1f} ms, cpu {run.window.cpu_ms_per_turn:.1f} ms, "
                f"WAL {run.window.wal_per_turn():.0f} B/turn, raw {run.raw_bytes} B, "
                f"as left {sum(run.bytes_as_left.values())} B, rows {run.rows}"
            )
    return found


async def _turn_each(conversations: list[Conversation], message: str) -> None:
    """One turn to each server, the first to go alternating from turn to turn."""
    done = len(conversations[0].expected) // 2
    for conversation in conversations if done % 2 == 0 else conversations[::-1]:
        await conversation.turn(message)


async def _finish(conversation: Conversation, run: StorageRun) -> StorageRun:
    """The history read back, then the tables' live size after VACUUM FULL."""
    history, seconds = await conversation.history()
    vacuumed = conversation.database.vacuum_full()
    return replace(run, bytes_vacuumed=vacuumed, history=history, history_seconds=seconds)


Server = tuple[Target, Service, Database]


async def _run(
    plan: Plan, stub_url: str, servers: list[Server], wal: WalReader | None
) -> list[StorageRun]:
    async with AsyncExitStack() as stack:
        conversations = []
        for target, service, database in servers:
            http = httpx.AsyncClient(base_url=service.url, timeout=60)
            await stack.enter_async_context(http)
            conversations.append(Conversation(target, service, database, http))
        found = await converse(plan, conversations, wal, stub_url)
        # The last window's runs, one per conversation, come last.
        done = len(found) - len(conversations)
        last = [await _finish(c, r) for c, r in zip(conversations, found[done:], strict=True)]
        return found[:done] + last


def storage_part(plan: Plan, setting: Setting, results: Results) -> None:
    with ExitStack() as stack:
        wal = stack.enter_context(open_wal_reader(setting.postgres, results.notes))
        services: list[Server] = []
        for target, install in setting.servers():
            url = stack.enter_context(throwaway_database(setting.postgres, f"_s{target.kind}"))
            server = chat_server(
                install,
                setting.workdir,
                stub_url=setting.stub.url,
                database_url=url,
                workers=1,
                pool_size=STORAGE_POOL_SIZE,
                backends=partial(backend_pids, url),
                settings={"MAX_CONTEXT_TOKENS": str(plan.max_context_tokens)},
            )
            services.append((target, stack.enter_context(server), Database(url)))
        results.storage += asyncio.run(_run(plan, setting.stub.url, services, wal))
        for target, service, _ in services:
            results.memory.append(PeakMemory(target, "storage", service.peak_rss_bytes()))
