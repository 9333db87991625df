"""`Turn`: one running turn as the response that started it reads it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from api.conversations.events import Accepted, Queued, Reply, Token, TurnEvent
from api.conversations.failures import Failure, TurnRefused

OnDisconnect = Literal["continue", "cancel"]


# The moments a front door may wait for before it answers.
def _queued(event: TurnEvent) -> bool:
    return isinstance(event, Queued | Accepted | Failure)


def _accepted(event: TurnEvent) -> bool:
    return isinstance(event, Accepted | Failure)


def _started(event: TurnEvent) -> bool:
    # A chunk without text (the model's role chunk) shows a client nothing: until the first
    # text, a failure is still an honest status rather than a reply cut off before it began.
    return isinstance(event, Reply | Failure) or (isinstance(event, Token) and bool(event.content))


class Turn:
    """One running turn. Its events wait here until they are read, so a front door can wait
    for a moment of the turn (`accepted`, `started`), answer, then stream every event."""

    def __init__(
        self, task: asyncio.Task[None], events: asyncio.Queue[TurnEvent], run_id: str
    ) -> None:
        self.run_id = run_id
        self._task = task
        self._queue = events
        self._unread: deque[TurnEvent] = deque()
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    async def queued(self) -> None:
        """Returns once the turn holds its session's lock or waits in line for it behind
        another turn of the session; TurnRefused if it never will."""
        await self._until(_queued)

    async def accepted(self) -> None:
        """Returns once the turn holds its session's lock; TurnRefused if it never will."""
        await self._until(_accepted)

    async def started(self) -> None:
        """Returns once the reply's first token of text is out (or the turn ended without one);
        TurnRefused if the turn failed before that: it was refused, or its model failed."""
        await self._until(_started)

    async def events(
        self, heartbeat_seconds: float | None = None
    ) -> AsyncIterator[TurnEvent | None]:
        """Every event not read yet, then each as it comes, up to the turn's end; None after
        each silence of `heartbeat_seconds`."""
        while self._unread:
            yield self._unread.popleft()
        while not self._ended:
            yield await self._next(heartbeat_seconds)

    async def result(self, on_disconnect: OnDisconnect) -> list[TurnEvent]:
        """Every event of the turn once it has ended; TurnRefused if it failed."""
        with self.followed(on_disconnect):
            events = [event async for event in self.events() if event is not None]
        if isinstance(events[-1], Failure):
            raise TurnRefused(events[-1])
        return events

    @contextmanager
    def followed(self, on_disconnect: OnDisconnect) -> Iterator[None]:
        """While a client follows the turn: if it leaves before the turn ends, the turn runs on
        to be saved, or is cancelled, as `on_disconnect` says."""
        try:
            yield
        finally:
            if not self._ended and on_disconnect == "cancel":
                self._task.cancel()

    async def _until(self, moment: Callable[[TurnEvent], bool]) -> None:
        while not any(moment(event) for event in self._unread):
            if self._ended:
                return
            event = await self._next(None)
            assert event is not None
            self._unread.append(event)
        last = self._unread[-1]
        if isinstance(last, Failure):
            raise TurnRefused(last)

    async def _next(self, timeout: float | None) -> TurnEvent | None:
        if self._queue.empty():
            try:
                # Not wait_for: it wraps the get in a task of its own, once per token.
                async with asyncio.timeout(timeout):
                    event = await self._queue.get()
            except TimeoutError:
                return None
        else:
            event = self._queue.get_nowait()
        self._ended = isinstance(event, Reply | Failure)
        return event
