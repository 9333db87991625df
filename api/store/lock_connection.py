"""The one connection a process keeps for its session locks. Statements run on it one at a
time, and between them it is watched: should the server close it (a restart,
`pg_terminate_backend`, a pooler), its loss is heard at once, not at the next statement."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from psycopg import AsyncConnection, OperationalError
from psycopg.abc import Params
from psycopg.rows import DictRow, dict_row

from api.store.database import never_idle_out


class LockConnection:
    """Connects when first used, and again after a loss; `on_lost` is told of each loss once,
    with the reason libpq gives."""

    def __init__(
        self, conninfo: str, connect_timeout: float, on_lost: Callable[[str], None]
    ) -> None:
        self._conninfo = conninfo
        self._connect_timeout = connect_timeout
        self._on_lost = on_lost
        self._connection: AsyncConnection[DictRow] | None = None
        # Held while a statement runs (or while connecting): the connection is watched only
        # while nothing else reads from it.
        self._using = asyncio.Lock()
        self._watched: int | None = None

    async def close(self) -> None:
        self._unwatch()
        if self._connection is not None:
            await self._connection.close()

    async def execute(self, statement: str, params: Params, *, again: bool = False) -> DictRow:
        """The one row of `statement`; with `again`, run once more on a new connection if the
        connection turns out lost (the server restarted since it last spoke)."""
        async with self._using:
            conn = await self._connected()
            try:
                return await self._run(conn, statement, params)
            except OperationalError:
                if not (again and conn.broken):
                    raise
            return await self._run(await self._connected(), statement, params)

    async def _connected(self) -> AsyncConnection[DictRow]:
        if self._connection is not None and self._connection.broken:
            self._lost(self._connection)
        if self._connection is None or self._connection.closed:
            self._connection = await AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=max(1, round(self._connect_timeout)),
            )
            await never_idle_out(self._connection)
        return self._connection

    async def _run(self, conn: AsyncConnection[DictRow], statement: str, params: Params) -> DictRow:
        # psycopg waits on the socket itself while the statement runs.
        self._unwatch()
        try:
            cur = await conn.execute(statement, params)
            row = await cur.fetchone()
        finally:
            self._watch(conn)
        assert row is not None
        return row

    def _watch(self, conn: AsyncConnection[DictRow]) -> None:
        if conn.broken:
            self._lost(conn)
        elif conn is self._connection and not conn.closed:
            self._watched = conn.fileno()
            asyncio.get_running_loop().add_reader(self._watched, self._readable, conn)

    def _unwatch(self) -> None:
        if self._watched is not None:
            asyncio.get_running_loop().remove_reader(self._watched)
            self._watched = None

    def _readable(self, conn: AsyncConnection[DictRow]) -> None:
        # Between statements the server writes only to close the connection, or a notice:
        # whatever came is read (libpq keeps a notice for the next statement), which tells
        # whether the connection is still up.
        self._unwatch()
        try:
            conn.pgconn.consume_input()
        except OperationalError:
            pass
        self._watch(conn)

    def _lost(self, conn: AsyncConnection[DictRow]) -> None:
        if conn is not self._connection:
            return
        self._connection = None
        self._unwatch()
        reason = conn.pgconn.error_message.decode(errors="replace").strip().splitlines()
        self._on_lost(reason[0] if reason else "closed")
