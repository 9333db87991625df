"""The connection pool: psycopg_pool's, made to fail fast and to recover at once.

psycopg_pool waits out back-offs of seconds where this server must not: after an idle period a
server's or a pooler's idle timeout may have dropped every pooled connection, and while
PostgreSQL is down every request would wait the whole pool timeout for a connection that will not
come. `_Pool` overrides psycopg_pool's `getconn` and its private `_connect`, and reads and changes
its private `_lock`, `_nconns`, `_waiting` and `_add_to_pool`: there is no public way to do either.
tests/unit/test_pool_internals.py fails loudly if an upgrade changes any of them;
tests/store/test_dropped_connections.py and tests/http/test_database_unreachable.py check the
behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from api.store.database import Pool

logger = logging.getLogger("chat_server.database")


# A connection that was in use this recently is taken as alive without a round trip to prove it:
# at a hundred checkouts a second, proving each one alive again cost a tenth of a turn. Below the
# idle timeouts servers and poolers set (seconds at the least), so one they dropped is checked.
_FRESH_SECONDS = 1.0
_idle_since: weakref.WeakKeyDictionary[AsyncConnection[DictRow], float] = (
    weakref.WeakKeyDictionary()
)


class _DroppedWhileIdle(BaseException):
    """A pooled connection failed its check. psycopg_pool replaces a connection whose check
    raises; it waits 1, 2, 4... seconds before it tries the next one, unless the exception is a
    BaseException: then the pool gives up the attempt at once, and `getconn` makes another."""


async def _note_idle(conn: AsyncConnection[DictRow]) -> None:
    _idle_since[conn] = time.monotonic()


async def _check_unless_fresh(conn: AsyncConnection[DictRow]) -> None:
    """The pool's connection check, skipped for a connection in use or opened just now."""
    if time.monotonic() - _idle_since.get(conn, 0.0) <= _FRESH_SECONDS:
        return
    try:
        await AsyncConnectionPool.check_connection(conn)
    except psycopg.Error as error:
        raise _DroppedWhileIdle from error


class DatabaseUnreachable(psycopg.OperationalError):
    """No connection could be made to the database just now: a request is answered at once
    rather than after waiting the pool's timeout for a connection that will not come."""

    @classmethod
    def because(cls, error: psycopg.Error) -> DatabaseUnreachable:
        lines = str(error).strip().splitlines()
        return cls(f"the database is unreachable: {lines[0] if lines else type(error).__name__}")


# While the database is unreachable, one request at a time tries to connect, at most once in
# this long; the others are answered at once.
_RETRY_SECONDS = 0.5
# "too many clients": the server answers, and a connection another request returns may come.
_TOO_MANY_CONNECTIONS = "53300"


class _Pool(Pool):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The error of the last connection attempt, while none has succeeded since.
        self._unreachable: psycopg.OperationalError | None = None
        self._retry_at = 0.0
        self._trying = False

    async def getconn(self, timeout: float | None = None) -> AsyncConnection[DictRow]:
        """A connection alive as far as the pool can tell, within `timeout` (the pool's own by
        default). After an idle period, a server's `idle_session_timeout` or a pooler may have
        dropped every idle connection: each is tried in turn at once, while new ones connect
        behind them. No busy loop: a dropped connection leaves the pool and is replaced only
        by a new connection. While no connection can be made, DatabaseUnreachable at once."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if self._unreachable is not None and not self.closed:
                await self._reach(deadline)
            try:
                return await super().getconn(deadline - time.monotonic())
            except _DroppedWhileIdle:
                continue
            except PoolTimeout:
                raise PoolTimeout(f"couldn't get a connection after {timeout:.2f} sec") from None

    async def _reach(self, deadline: float) -> None:
        """Returns once the database takes connections again; else raises DatabaseUnreachable,
        at once unless this request is the one that tries."""
        if self._trying or time.monotonic() < self._retry_at:
            assert self._unreachable is not None
            raise DatabaseUnreachable.because(self._unreachable)
        self._trying = True
        try:
            conn = await self._connect(max(deadline - time.monotonic(), 1.0))
        except psycopg.OperationalError as error:
            if self._unreachable is None:
                return  # the server answered that it is full: wait for a connection as usual
            self._retry_at = time.monotonic() + _RETRY_SECONDS
            raise DatabaseUnreachable.because(error) from error
        finally:
            self._trying = False
        # To the pool, whose own attempts may be waiting out a back-off of seconds.
        await asyncio.shield(self._adopt(conn))

    async def _adopt(self, conn: AsyncConnection[DictRow]) -> None:
        async with self._lock:
            room = self._nconns < self.max_size
            if room:
                self._nconns += 1
        if room:
            await self._add_to_pool(conn)
        else:
            await conn.close()

    async def _connect(self, timeout: float | None = None) -> AsyncConnection[DictRow]:
        # Every connection the pool makes, and every try of `_reach`, comes through here.
        try:
            conn = await super()._connect(timeout)
        except psycopg.OperationalError as error:
            if error.sqlstate == _TOO_MANY_CONNECTIONS:
                self._reached()
            else:
                await self._cannot_connect(error)
            raise
        self._reached()
        return conn

    def _reached(self) -> None:
        if self._unreachable is not None:
            self._unreachable = None
            logger.info("the database is reachable again")

    async def _cannot_connect(self, error: psycopg.OperationalError) -> None:
        if self._unreachable is None:
            logger.warning(
                "%s: asking for a connection fails at once until one can be made",
                DatabaseUnreachable.because(error),
            )
        self._unreachable = error
        # Requests already waiting for a connection would wait out their timeout: they are
        # answered now, as psycopg_pool answers them when it closes.
        async with self._lock:
            waiting = list(self._waiting)
            self._waiting.clear()
        for client in waiting:
            await client.fail(DatabaseUnreachable.because(error))


def make_pool(url: str, *, min_size: int, max_size: int, timeout: float) -> Pool:
    """A closed pool of autocommit connections that return rows as dicts."""
    return _Pool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=timeout,
        # prepare_threshold=0 keeps working behind transaction-mode poolers such as PgBouncer.
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        configure=_note_idle,
        check=_check_unless_fresh,
        reset=_note_idle,
        # Each period in which the pool never lent all its connections, it closes one beyond
        # `min_size` (psycopg_pool's default period is 10 minutes): a pool grown by a burst
        # shrinks back within minutes, leaving fewer connections idle long enough to be dropped.
        max_idle=60.0,
        # A connection that cannot be made is tried again for this long, then left to the next
        # request to ask for: once PostgreSQL is back, a pool whose every connection was lost
        # waits for no back-off of minutes (psycopg_pool's default gives up after 5 minutes).
        reconnect_timeout=timeout,
        name="chat-server",
    )
