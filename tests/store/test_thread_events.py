"""A thread's protocol events in PostgreSQL (api/store/thread_events.py, thread_wakeups.py):
numbered 1, 2, 3, ... per thread for good, announced to every listener, pruned by age."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import pytest

from api.resources import Resources, open_resources
from api.settings import Settings
from api.store.runs import Runs
from api.store.sessions import Sessions
from api.store.thread_events import Bounds, NewEvent, RunChange, ThreadEvents
from api.store.thread_wakeups import ThreadWakeups
from tests.support.fakes import FakeChatModel


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(settings, FakeChatModel()) as resources:
        yield resources


def _events(resources: Resources, retention_seconds: float = 3600) -> ThreadEvents:
    return ThreadEvents(resources.pool, Runs(resources.pool, 10), retention_seconds)


async def _session(resources: Resources) -> UUID:
    session = await Sessions(resources.pool).create()
    assert session is not None
    return session.id


async def test_appends_at_once_to_one_thread_get_every_seq_once(resources: Resources) -> None:
    events = _events(resources)
    thread = await _session(resources)
    batches = [[NewEvent("messages", {"batch": b, "i": i}) for i in range(3)] for b in range(10)]
    lasts = await asyncio.gather(*(events.append(thread, "run", batch) for batch in batches))

    read = await events.read(thread, "", 0)
    assert [e.seq for e in read] == list(range(1, 31))
    assert sorted(last or 0 for last in lasts) == list(range(3, 31, 3))
    for batch in range(10):  # a batch's events stay together, in order
        seqs = [e.seq for e in read if e.data["batch"] == batch]
        assert seqs == list(range(seqs[0], seqs[0] + 3))


async def test_another_owner_reads_nothing(resources: Resources) -> None:
    events = _events(resources)
    thread = await _session(resources)
    await events.append(thread, "run", [NewEvent("values", {"messages": []})])
    assert await events.read(thread, "someone else", 0) == []
    assert await events.bounds(thread, "someone else") == Bounds(0, None)


async def test_pruned_events_leave_their_seqs_taken_and_a_gap(resources: Resources) -> None:
    events = _events(resources, 0.2)
    thread = await _session(resources)
    await events.append(thread, "run", [NewEvent("values", {}), NewEvent("values", {})])
    await asyncio.sleep(0.3)
    await events.append(thread, "run", [NewEvent("values", {})])
    assert await events.prune() >= 2

    bounds = await events.bounds(thread, "")
    assert bounds == Bounds(last=3, first=3)
    assert bounds.gap_after(0) and bounds.gap_after(1)
    assert not bounds.gap_after(2) and not bounds.gap_after(3)
    assert await events.append(thread, "run", [NewEvent("values", {})]) == 4


async def test_an_append_wakes_the_listeners_of_its_thread_only(
    resources: Resources, settings: Settings, database_url: str
) -> None:
    events = _events(resources)
    wakeups = ThreadWakeups(database_url, settings.db_connect_timeout_seconds, print)
    thread, other = await _session(resources), await _session(resources)
    listening = asyncio.create_task(wakeups.listen_forever())
    try:
        async with wakeups.watching(str(thread)) as woken, wakeups.watching(str(other)) as idle:
            # Once it listens, the connection wakes every watcher: what came before was missed.
            await asyncio.wait_for(woken.wait(), timeout=5)
            woken.clear()
            idle.clear()
            await events.append(thread, "run", [NewEvent("lifecycle", {"event": "running"})])
            await asyncio.wait_for(woken.wait(), timeout=5)
            assert not idle.is_set()
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_a_run_is_replayed_to_new_streams_while_it_runs_and_just_after(
    resources: Resources,
) -> None:
    events = _events(resources)
    thread = await _session(resources)
    await events.append(thread, "r1", [NewEvent("values", {})], RunChange("pending"))
    assert await events.latest_run_from(thread, 0) is None  # waiting in line: nothing yet
    running = [NewEvent("lifecycle", {"event": "running"}, 0)]
    await events.append(thread, "r1", running, RunChange("running"))
    assert await events.latest_run_from(thread, 0) == 1
    ended = [NewEvent("lifecycle", {"event": "completed"}, 1)]
    await events.append(thread, "r1", ended, RunChange("success", ended=True))
    assert await events.latest_run_from(thread, 60) == 1
    assert await events.latest_run_from(thread, 0) is None
