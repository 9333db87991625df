"""The faults, each injected while the load runs: what is done, and when."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

import psycopg

from devtools.processes import ServerProcess
from faults.load import Load
from faults.postgres import OwnedPostgres


class NotInjected(RuntimeError):
    """The fault could not be injected: a run that did not test what it says must fail."""


@dataclass
class Stage:
    database_url: str
    servers: list[ServerProcess]
    load: Load
    postgres: OwnedPostgres | None  # only where the suite owns the server


@dataclass(frozen=True)
class Fault:
    slug: str
    title: str
    # Injects the fault and returns when it struck (time.monotonic()).
    inject: Callable[[Stage], Awaitable[float]]
    # ALTER DATABASE ... SET, before the servers start (a setting applies to new sessions).
    database_settings: Mapping[str, str] = field(default_factory=dict)
    # "killed" or "drained": server 0 stops, and its clients go on through server 1.
    stops_server: str | None = None
    restarts_postgres: bool = False
    # Whether a turn may fail once its reply has begun: when another turn of its session was
    # saved first, or when PostgreSQL is down at its save. Otherwise a dead connection is
    # replaced, and a turn fails, if at all, before its reply.
    may_fail_mid_reply: bool = False


# The servers' connections to this database. The one of a process that holds its session locks
# runs nothing but its `SET idle_session_timeout` and lock statements, and the one that listens
# for the thread event streams nothing but that SET and its LISTEN; pg_stat_activity shows the
# latest. The pool's never run one.
_BACKENDS = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)
_OWN_CONNECTIONS = (
    "(query LIKE '%advisory%' OR query LIKE 'SET idle_session_timeout%' OR query LIKE 'LISTEN %'"
    " OR pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory'))"
)
POOLED = f"{_BACKENDS} AND NOT {_OWN_CONNECTIONS}"
LOCK_HOLDERS = (
    f"{_BACKENDS} AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)"
)


async def _terminate(database_url: str, backends: str) -> int:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        cur = await admin.execute(f"SELECT count(pg_terminate_backend(pid)) FROM ({backends}) b")
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def _terminating(
    backends: str, what: str, times: int, apart: float
) -> Callable[[Stage], Awaitable[float]]:
    async def inject(stage: Stage) -> float:
        strikes, terminated = [], 0
        for _ in range(times):
            await stage.load.mid_reply()
            strikes.append(time.monotonic())
            terminated += await _terminate(stage.database_url, backends)
            await asyncio.sleep(apart)
        struck = strikes[0]
        if terminated == 0:
            raise NotInjected(f"no {what} to terminate")
        return struck

    return inject


def _signalling(sig: signal.Signals) -> Callable[[Stage], Awaitable[float]]:
    async def inject(stage: Stage) -> float:
        process = stage.servers[0].process
        await stage.load.mid_reply(server=0)
        process.send_signal(sig)
        struck = time.monotonic()
        # Within the shutdown grace the servers are given, a drain ends; a kill at once.
        try:
            await asyncio.wait_for(process.wait(), timeout=60)
        except TimeoutError:
            raise NotInjected(f"server 0 did not exit after {sig.name}") from None
        return struck

    return inject


async def _idle_gaps(stage: Stage) -> float:
    """Twice, no request for longer than the database's idle_session_timeout: the pool's idle
    connections are closed by PostgreSQL, and the next turns find them dead."""
    for _ in range(2):
        async with stage.load.paused():
            await asyncio.sleep(3.0)
            async with await psycopg.AsyncConnection.connect(stage.database_url) as admin:
                cur = await admin.execute(f"SELECT count(*) FROM ({POOLED}) b")
                row = await cur.fetchone()
            if row is None or row[0] != 0:
                raise NotInjected("pooled connections outlived the idle timeout")
    return time.monotonic()


async def _restart_postgres(stage: Stage) -> float:
    if stage.postgres is None:
        raise NotInjected("no PostgreSQL of the suite's own to restart")
    await stage.load.mid_reply()
    struck = time.monotonic()
    await stage.postgres.restart()
    return struck


FAULTS = (
    Fault(
        "lock-connection",
        "the connection holding the session locks terminated mid-reply (twice)",
        _terminating(LOCK_HOLDERS, "connection holding session locks", times=2, apart=0.5),
        may_fail_mid_reply=True,
    ),
    Fault(
        "pooled-connections",
        "the pooled connections terminated mid-reply (three times, 2 s apart)",
        # Apart by more than the time it takes the dead connections to be used or checked:
        # a strike never finds a save being made again after the previous one (a second fault).
        _terminating(POOLED, "pooled connection", times=3, apart=2.0),
    ),
    Fault(
        "idle-timeout",
        "`idle_session_timeout = '2s'` on the database, and two 3 s gaps in the load",
        _idle_gaps,
        database_settings={"idle_session_timeout": "2s"},
    ),
    Fault(
        "sigkill",
        "one server process killed (SIGKILL) mid-reply",
        _signalling(signal.SIGKILL),
        stops_server="killed",
    ),
    Fault(
        "sigterm",
        "one server process stopped (SIGTERM) mid-reply: a graceful drain",
        _signalling(signal.SIGTERM),
        stops_server="drained",
    ),
    Fault(
        "postgres-restart",
        "PostgreSQL restarted (`pg_ctl restart -m fast`) mid-reply",
        _restart_postgres,
        restarts_postgres=True,
        may_fail_mid_reply=True,
    ),
)
