"""A thread's event stream, through any replica: every turn is recorded in PostgreSQL as it runs
(api/conversations/recorder.py), and every reader follows the thread there, woken by the
NOTIFY of each batch.

The process running a turn renews its run's lease; a reader that meets a silence settles the
thread's runs whose lease ran out (their process died or hung), so its stream ends with a
lifecycle `failed` rather than hanging.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import psycopg

from api.conversations.failures import RUN_LOST, TURN_CANCELLED
from api.conversations.protocol import ENDINGS, lifecycle
from api.conversations.recorder import Recording
from api.store.runs import Runs, Settled
from api.store.thread_events import NewEvent, StoredEvent, ThreadEvents
from api.store.thread_wakeups import ThreadWakeups

logger = logging.getLogger("chat_server.thread_events")


@dataclass(frozen=True)
class ResumeGap:
    """The events after `since` are pruned already from `min_available_seq` on."""

    since: int
    min_available_seq: int


def _ends(event: StoredEvent) -> bool:
    return event.method == "lifecycle" and event.data.get("event") in ENDINGS


def _ending(run: Settled) -> list[NewEvent]:
    if run.status == "success":
        return [NewEvent(*lifecycle("completed"))]
    error = TURN_CANCELLED if run.status == "interrupted" else RUN_LOST
    return [NewEvent(*lifecycle("failed", error=error))]


class ThreadStreams:
    def __init__(
        self, events: ThreadEvents, runs: Runs, conninfo: str, connect_timeout: float
    ) -> None:
        self._events = events
        self._runs = runs
        self._wakeups = ThreadWakeups(conninfo, connect_timeout, self._cancel_here)
        self._recordings: dict[str, Recording] = {}
        self._writing: set[asyncio.Task[None]] = set()

    def recording(self, thread_id: UUID, run_id: str) -> Recording:
        """A new recording of the turn `run_id` of `thread_id`; its run's lease is renewed
        while it is open."""
        recording = Recording(self._events, thread_id, run_id)
        self._recordings[run_id] = recording
        return recording

    def closed(self, recording: Recording) -> None:
        """Its turn is over: the recording writes what is left, then is forgotten."""
        recording.close()
        task = asyncio.ensure_future(recording.finished())
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)
        task.add_done_callback(lambda _: self._recordings.pop(recording.run_id, None))

    async def drain(self) -> None:
        """Waits for the recordings still writing: their turns have ended or been cancelled."""
        await asyncio.gather(*self._writing, return_exceptions=True)

    async def run_forever(self) -> None:
        """Listens for wake-ups and cancellations, and renews the leases of the runs of this
        process, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._wakeups.listen_forever())
            group.create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._runs.lease_seconds / 3)
            running = [run for run, recording in self._recordings.items() if recording.open]
            try:
                await self._runs.renew(running)
            except psycopg.Error:
                logger.warning("could not renew the leases of %d run(s)", len(running))

    def _cancel_here(self, run_id: str) -> None:
        if (recording := self._recordings.get(run_id)) is not None:
            logger.info("run %s was cancelled", run_id)
            recording.cancel()

    async def settle(self, thread_id: UUID) -> None:
        """Ends the thread's runs whose process stopped renewing their lease."""
        for run in await self._events.settle(thread_id, _ending):
            logger.warning(
                "run %s of thread %s was given up: its server stopped renewing its lease",
                run.run_id,
                thread_id,
            )

    async def running_run(self, thread_id: UUID, owner: str) -> str | None:
        """The run of the thread running now, if one is."""
        return await self._runs.running(thread_id, owner)

    async def recorded(self, thread_id: UUID, owner: str, run_id: str) -> list[StoredEvent]:
        """The run's events recorded so far."""
        return await self._events.read_run(thread_id, owner, run_id)

    async def last_seq(self, thread_id: UUID, owner: str) -> int:
        return (await self._events.bounds(thread_id, owner)).last

    async def follow(
        self, thread_id: UUID, owner: str, since: int | None, heartbeat_seconds: float
    ) -> AsyncIterator[StoredEvent | ResumeGap | None]:
        """The thread's events after `since`, then each as it comes, for as long as it is
        read; None once it is followed, and after each silence of `heartbeat_seconds`.
        Without `since`: from the start of the turn running now, else from now (an ended turn
        replayed would give a client that opens its stream before its next turn the earlier
        turn's output).
        A `ResumeGap` (and the end) if events after `since` are pruned already."""
        async with self._wakeups.watching(str(thread_id)) as wake:
            bounds = await self._events.bounds(thread_id, owner)
            if since is None:
                latest = await self._events.latest_run_from(thread_id, 0)
                since = bounds.last if latest is None else latest
            elif bounds.gap_after(since):
                first = bounds.last + 1 if bounds.first is None else bounds.first
                yield ResumeGap(since, first)
                return
            yield None  # followed from here on: a client may start a turn and miss nothing
            while True:
                wake.clear()
                # Shielded: a client that leaves mid-read must not cancel the query, which
                # would cost the pool its connection.
                page = await asyncio.shield(self._events.read(thread_id, owner, since))
                for event in page:
                    yield event
                    since = event.seq
                if page:
                    continue
                try:
                    async with asyncio.timeout(heartbeat_seconds):
                        await wake.wait()
                except TimeoutError:
                    await asyncio.shield(self.settle(thread_id))
                    yield None

    async def run_events(
        self, thread_id: UUID, owner: str, run_id: str, heartbeat_seconds: float
    ) -> AsyncIterator[list[StoredEvent] | None]:
        """The run's events from its first, a page at a time, then each batch as it comes, up
        to its end; None after each silence of `heartbeat_seconds`."""
        since = 0
        async with self._wakeups.watching(str(thread_id)) as wake:
            while True:
                wake.clear()
                page = await asyncio.shield(
                    self._events.read_run(thread_id, owner, run_id, after=since)
                )
                if page:
                    yield page
                    since = page[-1].seq
                    if any(_ends(event) for event in page):
                        return
                    continue
                run = await self._runs.get(thread_id, owner, run_id)
                if run is None or run.ended:
                    return  # no such run, or its events are pruned
                try:
                    async with asyncio.timeout(heartbeat_seconds):
                        await wake.wait()
                except TimeoutError:
                    await asyncio.shield(self.settle(thread_id))
                    yield None
