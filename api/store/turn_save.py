"""A turn's save: everything the turn wrote, in one transaction that commits only if the
session's latest checkpoint is still the one the turn started from.

The session lock keeps turns of a session apart while its connection lives; this is the fence
for when it does not (the lock's connection cut, a server that lost it unknowingly): a turn that
another turn overtook stores nothing, so two turns never interleave. A save whose connection
dies is tried once more on a new connection, and counts as saved if the first attempt had
committed after all.
"""

from __future__ import annotations

import logging
from uuid import UUID

from psycopg import AsyncConnection, OperationalError
from psycopg.rows import DictRow, dict_row

from api.store.database import Pool
from api.store.runs import SAVED
from api.store.saver import HeldBack, PooledPostgresSaver

logger = logging.getLogger("chat_server.turn_save")

# The compare-and-set: the session's latest checkpoint moves from the one the turn started
# from to the turn's own, or the statement changes no row.
_ADVANCE = (
    "UPDATE chat_sessions SET latest_checkpoint_id = %(new)s"
    " WHERE id = %(session)s AND latest_checkpoint_id IS NOT DISTINCT FROM %(started_from)s::text"
)
_LATEST = "SELECT latest_checkpoint_id FROM chat_sessions WHERE id = %s"


class TurnOvertaken(Exception):
    """Another turn of the session was saved while this one ran: nothing of this one is."""


class RunClosed(Exception):
    """The turn's run was cancelled, or settled as dead by another replica, before its save:
    nothing of it is stored."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the run is {status}")
        self.status = status


class _NothingToSave(Exception):
    """The turn needs no save after all: its writes are rolled back."""


class TurnSaves:
    def __init__(self, pool: Pool, saver: PooledPostgresSaver, conninfo: str) -> None:
        self._pool = pool
        self._saver = saver
        self._conninfo = conninfo

    async def commit(
        self,
        session_id: UUID,
        started_from: str | None,
        held: HeldBack,
        run_id: str | None = None,
    ) -> None:
        """Writes what the turn held back, if the session's latest checkpoint is still
        `started_from` (TurnOvertaken if it is not) and its run `run_id`, if any, is still open
        (RunClosed if it is not): the run is then a success."""
        if held.checkpoint_id is None:
            return
        try:
            async with self._pool.connection() as conn:
                await self._write(conn, session_id, started_from, held, run_id, retried=False)
        except OperationalError:
            self._saver.forget(str(session_id))
            logger.warning(
                "saving a turn of session %s failed: once more on a new connection", session_id
            )
            async with await AsyncConnection.connect(
                self._conninfo, autocommit=True, row_factory=dict_row, prepare_threshold=0
            ) as conn:
                await self._write(conn, session_id, started_from, held, run_id, retried=True)

    async def _write(
        self,
        conn: AsyncConnection[DictRow],
        session_id: UUID,
        started_from: str | None,
        held: HeldBack,
        run_id: str | None,
        *,
        retried: bool,
    ) -> None:
        try:
            async with conn.transaction():
                params = {"new": held.checkpoint_id, "session": session_id}
                # One round trip for the whole save; if the compare-and-set changed no row, a
                # raise rolls the writes back.
                async with conn.pipeline():
                    advanced = await conn.execute(
                        _ADVANCE, {**params, "started_from": started_from}
                    )
                    saved = None
                    if run_id is not None:
                        saved = await conn.execute(SAVED, {"run": run_id, "thread": session_id})
                    await self._saver.write_held_back(held, conn)
                if advanced.rowcount == 1 and saved is not None and await saved.fetchone() is None:
                    assert run_id is not None
                    raise RunClosed(await _run_status(conn, run_id))
                if advanced.rowcount != 1:
                    found, latest = await _latest(conn, session_id)
                    if not found:
                        # Deleted while the turn ran: what it wrote would go with the session.
                        raise _NothingToSave
                    if retried and latest == held.checkpoint_id:
                        raise _NothingToSave  # the first attempt committed before it was cut
                    raise TurnOvertaken(str(session_id))
        except _NothingToSave:
            self._saver.forget(str(session_id))
        except BaseException:
            self._saver.forget(str(session_id))
            raise


async def _run_status(conn: AsyncConnection[DictRow], run_id: str) -> str:
    cur = await conn.execute("SELECT status FROM chat_runs WHERE run_id = %s", (run_id,))
    row = await cur.fetchone()
    return "gone" if row is None else str(row["status"])


async def _latest(conn: AsyncConnection[DictRow], session_id: UUID) -> tuple[bool, str | None]:
    """Whether the session exists, and its latest checkpoint id."""
    cur = await conn.execute(_LATEST, (session_id,))
    row = await cur.fetchone()
    return (False, None) if row is None else (True, row["latest_checkpoint_id"])
