"""Session locks: one turn at a time per session, across every server process, as PostgreSQL
advisory locks. The statement that takes a lock also checks that the session is the caller's
and reads the id of its latest checkpoint, so a turn needs no other statement to start."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import NamedTuple
from uuid import UUID

from api.store.errors import SessionBusy, SessionNotFound
from api.store.lock_connection import LockConnection
from api.store.runs import RUNNING_ON_LOCK

logger = logging.getLogger("chat_server.locks")

# One statement tries the lock, tells whether the session exists (and is the owner's), and, only
# if the lock was taken, reads the session's latest checkpoint id:
# - checking the session in the same statement means that a turn that gets the lock knows its
#   session was not deleted before, and that a turn of a deleted session does not wait;
# - the MATERIALIZED step runs first, so the id is read after the lock is held, and
#   `chat_session_latest_checkpoint` (api/store/schema.py) reads it with a snapshot taken then:
#   it sees a turn that another process committed just before it let the lock go.
# - the turn's run, if it has one, is marked running in the same statement.
_TRY_LOCK = (
    "WITH attempt AS MATERIALIZED"
    " (SELECT pg_try_advisory_lock(hashtextextended(%(key)s, 0)) AS locked), "
    + RUNNING_ON_LOCK
    + " SELECT locked, {present} AS present,"
    " CASE WHEN locked THEN chat_session_latest_checkpoint(%(key)s) END AS latest_checkpoint_id"
    " FROM attempt"
)
_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"
# How long a turn waits before it asks again for a lock another process holds.
_RETRY_SECONDS = (0.002, 0.005, 0.01, 0.02, 0.05)


class _Once:
    """Calls `call` the first time it is called, and never again."""

    def __init__(self, call: Callable[[], None] | None) -> None:
        self._call = call

    def __call__(self) -> None:
        if self._call is not None:
            call, self._call = self._call, None
            call()


class LockResult(NamedTuple):
    locked: bool
    present: bool
    # The session's latest checkpoint id when the lock was taken (None: none yet, or not locked).
    latest_checkpoint_id: str | None


# Told that the lock connection was lost, with the number of sessions whose locks went with it.
OnLost = Callable[[int], None]


class SessionLocks:
    """One turn at a time per session, in arrival order, across every server process.

    Within a process, turns of one session queue on an asyncio lock (FIFO). Across processes,
    a session-level advisory lock keyed on the session id, taken on one connection that this
    process keeps for its locks: a running turn holds no connection of the pool, so a
    process can stream as many replies at once as it has clients, not as it has connections.
    The unlock is shielded from cancellation, and if the process dies, its connection closes
    and PostgreSQL releases every lock it held.

    Between statements the connection is watched: should the server close it (a restart,
    `pg_terminate_backend`, a pooler), `on_lost` hears of it at once, with the number of
    sessions whose locks went with it, rather than at the next turn.
    """

    def __init__(
        self,
        conninfo: str,
        connect_timeout: float,
        *,
        owned: str,
        run_lease_seconds: float,
        on_lost: OnLost | None = None,
    ) -> None:
        """`owned`: the SQL condition that the session `%(key)s` belongs to `%(owner)s`;
        `run_lease_seconds`: the first lease of a run marked running with its lock."""
        self._run_lease_seconds = run_lease_seconds
        self._owned_lock = _TRY_LOCK.format(present=owned)
        self._any_lock = _TRY_LOCK.format(present="true")
        self._connection = LockConnection(conninfo, connect_timeout, self._lost)
        self._on_lost = on_lost
        # The locks taken on the connection and not yet released, by session key.
        self._held: dict[str, int] = {}
        self._local: dict[UUID, tuple[asyncio.Lock, int]] = {}
        self._releasing: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        await self._connection.close()

    def _lost(self, reason: str) -> None:
        # The turns that held these locks run on unfenced by them: the fenced save keeps them
        # apart from any turn another process starts meanwhile.
        sessions = len(self._held)
        self._held.clear()
        logger.log(
            logging.WARNING if sessions else logging.INFO,
            "the lock connection was lost (%s): the locks of %d session(s) went with it",
            reason,
            sessions,
        )
        if self._on_lost is not None:
            self._on_lost(sessions)

    @asynccontextmanager
    async def _local_turn(self, session_id: UUID) -> AsyncIterator[None]:
        lock, users = self._local.get(session_id, (asyncio.Lock(), 0))
        self._local[session_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._local[session_id]
            if users == 1:
                del self._local[session_id]
            else:
                self._local[session_id] = (lock, users - 1)

    async def _try_lock(self, key: str, owner: str | None, run_id: str | None) -> LockResult:
        statement = self._any_lock if owner is None else self._owned_lock
        params = {"key": key, "owner": owner, "run": run_id, "lease": self._run_lease_seconds}
        row = await self._connection.execute(statement, params, again=True)
        if row["locked"]:
            self._held[key] = self._held.get(key, 0) + 1
        return LockResult(bool(row["locked"]), bool(row["present"]), row["latest_checkpoint_id"])

    async def _acquire(
        self,
        key: str,
        owner: str | None,
        wait: bool,
        queued: Callable[[], None],
        run_id: str | None,
    ) -> str | None:
        waits = itertools.chain(_RETRY_SECONDS, itertools.repeat(_RETRY_SECONDS[-1]))
        while True:
            attempt_ = asyncio.ensure_future(self._try_lock(key, owner, run_id))
            try:
                locked, present, latest_checkpoint_id = await asyncio.shield(attempt_)
            except asyncio.CancelledError:
                # The statement runs on: should it take the lock, the lock goes straight back.
                attempt_.add_done_callback(lambda done: self._release_if_taken(done, key))
                raise
            if not present:
                if locked:
                    await asyncio.shield(self._release(key))
                raise SessionNotFound
            if locked:
                return latest_checkpoint_id
            if not wait:
                raise SessionBusy(key)
            queued()
            await asyncio.sleep(next(waits))

    def _release_if_taken(self, attempt: asyncio.Future[LockResult], key: str) -> None:
        if attempt.cancelled() or attempt.exception() is not None or not attempt.result().locked:
            return
        task = asyncio.ensure_future(self._release(key))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release(self, key: str) -> None:
        held = self._held.pop(key, 0)
        if held == 0:
            return  # taken on a connection since lost, which released it
        if held > 1:
            self._held[key] = held - 1
        try:
            await self._connection.execute(_UNLOCK, (key,))
        except Exception:
            # A lost connection has released the lock already.
            logger.warning("could not release the lock of session %s", key, exc_info=True)

    @asynccontextmanager
    async def hold(
        self,
        session_id: UUID,
        owner: str,
        *,
        wait: bool = True,
        on_queued: Callable[[], None] | None = None,
        run_id: str | None = None,
    ) -> AsyncIterator[str | None]:
        """Holds the session's lock, and gives the id of its latest checkpoint as of then (None
        for a session without one); raises SessionNotFound unless `owner` has the session, and
        SessionBusy if another turn holds it and `wait` is false. `on_queued` hears once if it
        waits for another turn of the session; the run `run_id`, if given, is marked running
        as the lock is taken (api/store/runs.py)."""
        holding = self._holding(session_id, owner, wait, on_queued, run_id)
        async with holding as latest_checkpoint_id:
            yield latest_checkpoint_id

    @asynccontextmanager
    async def hold_any(self, session_id: UUID) -> AsyncIterator[None]:
        """Holds the session's lock, whether or not the session exists (to outwait a turn)."""
        async with self._holding(session_id, None, True):
            yield

    @asynccontextmanager
    async def _holding(
        self,
        session_id: UUID,
        owner: str | None,
        wait: bool,
        on_queued: Callable[[], None] | None = None,
        run_id: str | None = None,
    ) -> AsyncIterator[str | None]:
        key = str(session_id)
        queued = _Once(on_queued)
        if self._busy_here(session_id):
            if not wait:
                raise SessionBusy(key)
            # Another turn of the session runs here: whose it is, the lock statement checks.
            queued()
        async with self._local_turn(session_id):
            latest_checkpoint_id = await self._acquire(key, owner, wait, queued, run_id)
            try:
                yield latest_checkpoint_id
            finally:
                await asyncio.shield(self._release(key))

    def _busy_here(self, session_id: UUID) -> bool:
        return session_id in self._local
