"""The one LISTEN connection of a process: each NOTIFY of a thread's new events wakes the
streams of that thread in this process, whichever replica wrote them.

A wake-up only says "read again": the events themselves are read from PostgreSQL. So a
notification lost with the connection loses nothing; the streams are all woken once it is
back, and every stream also reads again after each silence of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
from psycopg import AsyncConnection, sql

from api.store.database import never_idle_out
from api.store.runs import CANCEL_CHANNEL
from api.store.thread_events import CHANNEL

logger = logging.getLogger("chat_server.thread_events")

_RECONNECT_SECONDS = 1.0


class ThreadWakeups:
    """Also hears of cancelled runs (`CANCEL_CHANNEL`, payload: the run id), and tells
    `on_cancel`: the run's turn stops on whichever replica runs it. A cancellation missed with a
    lost connection still holds: the run's save refuses it (api/store/runs.py)."""

    def __init__(
        self, conninfo: str, connect_timeout: float, on_cancel: Callable[[str], None]
    ) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._on_cancel = on_cancel
        self._waiting: dict[str, set[asyncio.Event]] = {}

    @asynccontextmanager
    async def watching(self, thread_id: str) -> AsyncIterator[asyncio.Event]:
        """An event set whenever `thread_id` may have new events; the watcher clears it."""
        wake = asyncio.Event()
        self._waiting.setdefault(thread_id, set()).add(wake)
        try:
            yield wake
        finally:
            waiting = self._waiting[thread_id]
            waiting.discard(wake)
            if not waiting:
                del self._waiting[thread_id]

    async def listen_forever(self) -> None:
        """Listens until cancelled, connecting again after each loss."""
        while True:
            try:
                await self._listen()
            except psycopg.OperationalError:
                logger.warning("the LISTEN connection was lost; connecting again", exc_info=True)
            self._wake_all()
            await asyncio.sleep(_RECONNECT_SECONDS)

    async def _listen(self) -> None:
        async with await AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(1, round(self._connect_timeout)),
        ) as conn:
            await never_idle_out(conn)
            for channel in (CHANNEL, CANCEL_CHANNEL):
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            # What was written while no connection listened.
            self._wake_all()
            async for notify in conn.notifies():
                if notify.channel == CANCEL_CHANNEL:
                    self._on_cancel(notify.payload)
                    continue
                for wake in self._waiting.get(notify.payload, ()):
                    wake.set()

    def _wake_all(self) -> None:
        for waiting in self._waiting.values():
            for wake in waiting:
                wake.set()
