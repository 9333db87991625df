"""The storage part: one long conversation per server, its turns' cost and what it leaves in
PostgreSQL, at several lengths, over its two halves, and how fast a state of it is read back.

Each server (one worker, MAX_CONTEXT_TOKENS bounding the model's window) has a database of its
own with one session in it; the servers take turns, one turn at a time, on the same messages.
The figures count every table of the server's database, whatever its layout: sizes as left
(no VACUUM), rows, and the WAL written for that database alone (read back with pg_walinspect).

The live size of the tables (after VACUUM FULL) is read at the start, after the first half of
the turns and after the last: at the start and halfway, of a copy of the database made while
its server is down for a moment, so that the tables themselves stay as the server left them.
Once the conversation is over, its state halfway and its head are read back, one read by each
server process just started, so that nothing of the session is in the process's memory.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import zip_longest
from typing import Any

import httpx

from bench.footprint import Database, WalReader, open_wal_reader
from bench.load import chat_turn, create_session, make_message
from bench.parts import Setting, progress
from bench.plan import Plan
from bench.postgres import backend_pids, throwaway_database
from bench.processes import Service, chat_server
from bench.results import (
    Halves,
    Kind,
    PeakMemory,
    Results,
    Span,
    StateReads,
    StorageRun,
    Target,
    Window,
)
from bench.stub import Shape, reply_tokens_for, reshape

STORAGE_POOL_SIZE = 4
# Time for a server to finish what a turn does after its last event, before the WAL is read.
SETTLE_SECONDS = 0.3
# The timed turns have a one-token reply, so that their time is the turn's and not the tokens'.
TIMED = Shape(0.0, 1)
# Reads of the head, and of the state halfway, each by a server process of its own.
STATE_READS = 7


def _higher(peaks: list[int], more: list[int]) -> list[int]:
    """The higher of two processes' peaks, process by process."""
    return [max(a, b) for a, b in zip_longest(peaks, more, fillvalue=0)]


@dataclass(frozen=True)
class _Read:
    seconds: float
    status: int
    state: dict[str, Any]  # empty unless the status is 200

    def wrong(self, checkpoint: str | None, messages: int) -> str | None:
        """What is wrong with the state given back, if anything: that of `checkpoint` (None:
        the head) was asked for, with `messages` messages."""
        if self.status == 404 and checkpoint is not None:
            return "not served (HTTP 404)"
        if self.status != 200:
            return f"HTTP {self.status}"
        if checkpoint is not None and self.state.get("checkpoint_id") != checkpoint:
            return f"checkpoint {self.state.get('checkpoint_id')}, not {checkpoint}"
        got = len(self.state.get("values", {}).get("messages", []))
        return None if got == messages else f"{got} messages, not {messages}"


@dataclass
class Conversation:
    """One server's session, and all that it was sent and answered."""

    target: Target
    service: Service
    database: Database
    http: httpx.AsyncClient
    # Starts the server again on its database.
    start: Callable[[], AbstractContextManager[Service]]
    stack: ExitStack
    session: str = ""
    expected: list[tuple[str, str]] = field(default_factory=list)
    raw_bytes: int = 0
    durations: list[float] = field(default_factory=list)
    # Of the processes stopped so far.
    peak_rss_bytes: list[int] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return len(self.expected) // 2

    async def turn(self, message: str) -> None:
        outcome = await chat_turn(self.http, self.session, message)
        if outcome.error is not None:
            raise self.fail(f"turn {self.turns + 1}: {outcome.error}")
        self.expected += [("user", message), ("assistant", outcome.reply)]
        self.raw_bytes += len(message.encode()) + len(outcome.reply.encode())
        self.durations.append(outcome.latency)

    def fail(self, why: str) -> SystemExit:
        return SystemExit(f"bench: storage, {self.target.label}, {why}")

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

    async def state(self, session: str, checkpoint: str | None = None) -> _Read:
        """GET /threads/{id}/state, or /state/{checkpoint_id}, timed."""
        path = f"/threads/{session}/state" + (f"/{checkpoint}" if checkpoint else "")
        began = time.perf_counter()
        response = await self.http.get(path)
        seconds = time.perf_counter() - began
        ok = response.status_code == 200
        return _Read(seconds, response.status_code, response.json() if ok else {})

    async def checkpoint(self, session: str | None = None) -> str:
        """The id of the latest checkpoint of the session, or of another."""
        read = await self.state(session or self.session)
        if read.status != 200:
            raise self.fail(f"GET /threads/{{id}}/state: HTTP {read.status}")
        return str(read.state["checkpoint_id"])

    async def restart(self, meanwhile: Callable[[], object] = lambda: None) -> None:
        """Stops the server, calls `meanwhile` while it is down, and starts it again (in a
        thread: waiting for a server to be ready runs an event loop of its own)."""
        self.peak_rss_bytes = _higher(self.peak_rss_bytes, self.service.peak_rss_bytes())
        self.service.stop()
        meanwhile()
        self.service = await asyncio.to_thread(self.stack.enter_context, self.start())
        self.http.base_url = httpx.URL(self.service.url)

    async def live_bytes(self, server_url: str) -> int:
        """The tables' size after VACUUM FULL, of a copy of the database made while the server
        is down: the server's tables stay as it left them."""
        sizes: dict[str, int] = {}
        await self.restart(lambda: sizes.update(self.database.vacuumed_copy(server_url)))
        return sum(sizes.values())


def _brief(message: tuple[str, str] | None) -> str:
    if message is None:
        return "missing"
    role, content = message
    return f"{role} `{content[:24]}…`" if len(content) > 24 else f"{role} `{content}`"


def halfway(plan: Plan) -> int:
    """The last turn of the conversation's first half."""
    return plan.storage_turns[-1] // 2


def windows(plan: Plan) -> Iterator[tuple[int, int]]:
    """(first, last) turn of the window timed before each length: up to `window_turns` turns,
    none of them in an earlier window, nor a fresh server's first turn (turn 1, and the turn
    after the halfway restart), nor any on both sides of that restart."""
    previous = 1
    after_restart = halfway(plan) + 1
    for turns in plan.storage_turns:
        first = max(previous + 1, turns - plan.window_turns + 1)
        if first <= after_restart <= turns:
            first = after_restart + 1
        yield first, turns
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


@dataclass(frozen=True)
class _SpanStart:
    """Where a span of turns began: its first turn, and each conversation's figures then."""

    first: int
    lsn: str | None
    raw: dict[Kind, int]
    live: dict[Kind, int]


@dataclass
class Talk:
    """The servers' conversations, turn by turn, and the two halves of them."""

    plan: Plan
    conversations: list[Conversation]
    wal: WalReader | None
    stub_url: str
    postgres_url: str
    span: _SpanStart | None = None
    first_half: dict[Kind, Span] = field(default_factory=dict)
    # Each session's latest checkpoint once its first half was over.
    halfway_checkpoints: dict[Kind, str] = field(default_factory=dict)
    # Where the last window's WAL ended.
    end: str | None = None

    @property
    def turns(self) -> int:
        return self.conversations[0].turns

    async def turn_each(self, message: str) -> None:
        """One turn to each server, the first to go alternating from turn to turn."""
        ordered = self.conversations if self.turns % 2 == 0 else self.conversations[::-1]
        for conversation in ordered:
            await conversation.turn(message)

    async def _live(self) -> dict[Kind, int]:
        return {c.target.kind: await c.live_bytes(self.postgres_url) for c in self.conversations}

    def _begin(self, live: dict[Kind, int]) -> None:
        """A span of turns begun now, the conversations' live sizes being `live`."""
        self.span = _SpanStart(
            first=self.turns + 1,
            lsn=self.wal.lsn() if self.wal else None,
            raw={c.target.kind: c.raw_bytes for c in self.conversations},
            live=live,
        )
        if self.wal and self.span.lsn:
            self.wal.release(self.span.lsn)

    def _wal(self, end: str | None) -> dict[Kind, tuple[int, int] | None]:
        """Each conversation's WAL since the span began, up to `end`."""
        assert self.span is not None
        start = self.span.lsn
        return {
            c.target.kind: self.wal.written(c.database, start, end)
            if self.wal and start and end
            else None
            for c in self.conversations
        }

    def _spans(
        self, wal: dict[Kind, tuple[int, int] | None], live: dict[Kind, int]
    ) -> dict[Kind, Span]:
        """What each conversation added since the span began."""
        assert self.span is not None
        spans = {}
        for c in self.conversations:
            kind = c.target.kind
            written = wal[kind]
            spans[kind] = Span(
                first=self.span.first,
                last=self.turns,
                raw_bytes=c.raw_bytes - self.span.raw[kind],
                live_bytes=live[kind] - self.span.live[kind],
                wal_bytes=written[0] if written else None,
                wal_fpi_bytes=written[1] if written else None,
            )
        return spans

    async def begin(self) -> None:
        """The first half's span begun: the servers restarted to read the live sizes."""
        self._begin(await self._live())

    async def close_first_half(self, end: str | None) -> None:
        """The first half's span closed, its WAL at `end`; the sessions' checkpoints noted; the
        second half's span begun."""
        for c in self.conversations:
            self.halfway_checkpoints[c.target.kind] = await c.checkpoint()
        # The WAL first: each copy's DROP DATABASE forces a checkpoint.
        wal = self._wal(end)
        live = await self._live()
        self.first_half = self._spans(wal, live)
        self._begin(live)

    def second_half(self, live: dict[Kind, int]) -> dict[Kind, Span]:
        """The second half's span, closed where the last window's WAL ended."""
        return self._spans(self._wal(self.end), live)

    async def untimed(self, rng: random.Random, until: int) -> None:
        """Turns up to turn `until`, the first half closed on the way."""
        while self.turns < until:
            await self.turn_each(make_message(rng, self.plan.message_chars))
            if self.turns == halfway(self.plan):
                await asyncio.sleep(SETTLE_SECONDS)
                await self.close_first_half(self.wal.lsn() if self.wal else None)

    async def window(self, rng: random.Random, first: int, last: int) -> list[StorageRun]:
        """Turns `first` to `last`, timed, with a one-token reply."""
        reshape(self.stub_url, TIMED)
        mark = _mark(self.conversations, self.wal)
        for _ in range(first, last + 1):
            await self.turn_each(make_message(rng, self.plan.message_chars))
        await asyncio.sleep(SETTLE_SECONDS)
        self.end = self.wal.lsn() if self.wal else None
        reshape(self.stub_url, Shape(0.0, reply_tokens_for(self.plan.message_chars)))
        runs = [_measure(c, last, mark, self.wal, self.end) for c in self.conversations]
        for run in runs:
            progress(
                f"storage      {run.target.label:<15} {last} turns: turn "
                f"{run.window.turn_ms:.1f} ms, cpu {run.window.cpu_ms_per_turn:.1f} ms, "
                f"WAL {run.window.wal_per_turn():.0f} B/turn, raw {run.raw_bytes} B, "
                f"as left {sum(run.bytes_as_left.values())} B, rows {run.rows}"
            )
        if last == halfway(self.plan):
            await self.close_first_half(self.end)
        return runs


async def converse(talk: Talk) -> list[StorageRun]:
    """Turns to every server alike, each alone in its turn; a window of timed turns before
    each length. The blocking calls between turns (stub, PostgreSQL, /proc, a server's restart)
    hold up nothing: one turn at a time is all that runs."""
    reshape(talk.stub_url, Shape(0.0, reply_tokens_for(talk.plan.message_chars)))
    for conversation in talk.conversations:
        conversation.session = await create_session(conversation.http, "chat")
    await talk.begin()
    rng = random.Random(7)
    found: list[StorageRun] = []
    for first, last in windows(talk.plan):
        await talk.untimed(rng, first - 1)
        found += await talk.window(rng, first, last)
    return found


async def _finish(conversation: Conversation, run: StorageRun) -> StorageRun:
    """The history read back, then the tables' live size after VACUUM FULL."""
    history, seconds = await conversation.history()
    vacuumed = conversation.database.vacuum_full()
    return replace(run, bytes_vacuumed=vacuumed, history=history, history_seconds=seconds)


@dataclass(frozen=True)
class _Other:
    """A session of two turns apart from the measured one, and its first turn's checkpoint:
    a process just started reads its states first, so that the timed read is not the
    process's first of its kind."""

    session: str
    checkpoint: str


async def _other_session(conversation: Conversation, rng: random.Random, chars: int) -> _Other:
    session = await create_session(conversation.http, "chat")
    checkpoint = ""
    for turn in (1, 2):
        outcome = await chat_turn(conversation.http, session, make_message(rng, chars))
        if outcome.error is not None:
            raise conversation.fail(f"a session apart, turn {turn}: {outcome.error}")
        checkpoint = checkpoint or await conversation.checkpoint(session)
    return _Other(session, checkpoint)


async def _read_once(
    conversation: Conversation, other: _Other, checkpoint: str | None, messages: int
) -> tuple[float, str | None]:
    """One read of the session's state by a process just started, after reads of the other
    session's: how long it took, and what was wrong with the state given back, if anything."""
    await conversation.restart()
    await conversation.state(other.session, other.checkpoint)
    await conversation.state(other.session)
    read = await conversation.state(conversation.session, checkpoint)
    return read.seconds, read.wrong(checkpoint, messages)


async def read_states(talk: Talk) -> list[StateReads]:
    """The head and the state halfway, STATE_READS times each, one read a process just
    started, the servers and the two reads in turn; a state not given back is read once."""
    rng = random.Random(11)
    others = {
        c.target.kind: await _other_session(c, rng, talk.plan.message_chars)
        for c in talk.conversations
    }
    half = halfway(talk.plan)
    heads: dict[Kind, list[float]] = {c.target.kind: [] for c in talk.conversations}
    backs: dict[Kind, list[float]] = {c.target.kind: [] for c in talk.conversations}
    refused: dict[Kind, str] = {}
    for round_ in range(STATE_READS):
        ordered = talk.conversations if round_ % 2 == 0 else talk.conversations[::-1]
        for c in ordered:
            kind = c.target.kind
            reads = [(None, 2 * c.turns, heads), (talk.halfway_checkpoints[kind], 2 * half, backs)]
            for checkpoint, messages, into in reads if round_ % 2 == 0 else reads[::-1]:
                if checkpoint is not None and kind in refused:
                    continue
                seconds, wrong = await _read_once(c, others[kind], checkpoint, messages)
                if wrong is None:
                    into[kind].append(seconds)
                elif checkpoint is None:
                    raise c.fail(f"GET /threads/{{id}}/state: {wrong}")
                else:
                    refused[kind] = wrong
    kinds = [c.target for c in talk.conversations]
    return [StateReads(t, half, heads[t.kind], backs[t.kind], refused.get(t.kind)) for t in kinds]


def _peak(conversation: Conversation) -> list[int]:
    return _higher(conversation.peak_rss_bytes, conversation.service.peak_rss_bytes())


Server = tuple[Target, Callable[[], AbstractContextManager[Service]], Database]


async def _run(
    plan: Plan, setting: Setting, servers: list[Server], wal: WalReader | None, results: Results
) -> None:
    async with AsyncExitStack() as stack:
        conversations = []
        for target, start, database in servers:
            running = stack.enter_context(ExitStack())
            service = await asyncio.to_thread(running.enter_context, start())
            http = httpx.AsyncClient(base_url=service.url, timeout=60)
            await stack.enter_async_context(http)
            conversations.append(Conversation(target, service, database, http, start, running))
        talk = Talk(plan, conversations, wal, setting.stub.url, setting.postgres.url)
        found = await converse(talk)
        # The last window's runs, one per conversation, come last.
        done = len(found) - len(conversations)
        last = [await _finish(c, r) for c, r in zip(conversations, found[done:], strict=True)]
        results.storage += found[:done] + last
        results.memory += [PeakMemory(c.target, "storage", _peak(c)) for c in conversations]
        if not talk.first_half:
            return  # a conversation of one turn has no halves
        live = {r.target.kind: sum((r.bytes_vacuumed or {}).values()) for r in last}
        second = talk.second_half(live)
        for c in conversations:
            kind = c.target.kind
            results.halves.append(Halves(c.target, talk.first_half[kind], second[kind]))
        results.reads += await read_states(talk)


def storage_part(plan: Plan, setting: Setting, results: Results) -> None:
    with ExitStack() as stack:
        wal = stack.enter_context(open_wal_reader(setting.postgres, results.notes))
        servers: list[Server] = []
        for target, install in setting.servers():
            url = stack.enter_context(throwaway_database(setting.postgres, f"_s{target.kind}"))
            start = partial(
                chat_server,
                install,
                setting.workdir,
                stub_url=setting.stub.url,
                database_url=url,
                workers=1,
                pool_size=STORAGE_POOL_SIZE,
                backends=partial(backend_pids, url),
                settings={"MAX_CONTEXT_TOKENS": str(plan.max_context_tokens)},
            )
            servers.append((target, start, Database(url)))
        asyncio.run(_run(plan, setting, servers, wal, results))
