"""The PostgreSQL the benchmark runs on, and the throwaway databases it makes there."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict

from api.store.database import redacted, start_embedded
from devtools import databases

MACHINE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EMBEDDED_DIR = Path(__file__).resolve().parent.parent / ".data" / "bench-postgres"
EMBEDDED_MAX_CONNECTIONS = 300
# Connections the benchmark itself may hold at once beside the servers' pools.
OWN_CONNECTIONS = 4

Choice = Literal["auto", "env", "machine", "embedded"]
RESERVED = ("superuser_reserved_connections", "reserved_connections")
# What decides how much of a session's storage is dead rows, and how much WAL a turn writes.
TELLING_SETTINGS = ("autovacuum", "checkpoint_timeout", "full_page_writes", "shared_buffers")


@dataclass(frozen=True)
class PostgresServer:
    url: str
    origin: str
    version: str
    max_connections: int
    reserved_connections: int
    settings: dict[str, str]

    def client_connections(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
            ).fetchone()
        assert row is not None
        return int(row[0])

    def connections_left(self) -> int:
        """How many more connections the servers' pools may open, leaving the benchmark its own."""
        used = self.client_connections()
        return self.max_connections - self.reserved_connections - used - OWN_CONNECTIONS


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _describe(url: str, origin: str) -> PostgresServer:
    with psycopg.connect(url, autocommit=True) as conn:
        version = conn.execute("SELECT version()").fetchone()
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)",
                ([*RESERVED, "max_connections", *TELLING_SETTINGS],),
            ).fetchall()
        )
    assert version is not None
    return PostgresServer(
        url=url,
        origin=origin,
        version=str(version[0]),
        max_connections=int(settings["max_connections"]),
        reserved_connections=sum(int(settings.get(name, "0")) for name in RESERVED),
        settings={name: settings[name] for name in TELLING_SETTINGS if name in settings},
    )


@contextmanager
def _embedded() -> Iterator[str]:
    """The benchmark's own embedded PostgreSQL, allowed enough connections for 100 sessions."""
    server = start_embedded(EMBEDDED_DIR)
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            row = conn.execute("SHOW max_connections").fetchone()
            assert row is not None
            if int(row[0]) < EMBEDDED_MAX_CONNECTIONS:
                conn.execute(f"ALTER SYSTEM SET max_connections = {EMBEDDED_MAX_CONNECTIONS}")
        if int(row[0]) < EMBEDDED_MAX_CONNECTIONS:
            server.cleanup()
            server = start_embedded(EMBEDDED_DIR)
        yield server.get_uri()
    finally:
        server.cleanup()


@contextmanager
def locate(choice: Choice) -> Iterator[PostgresServer]:
    """DATABASE_URL if set, else the machine's PostgreSQL if it answers, else an embedded one."""
    env_url = os.environ.get("DATABASE_URL") or None
    if choice == "env" and env_url is None:
        raise SystemExit("--postgres env: DATABASE_URL is not set")
    if choice in ("auto", "env") and env_url is not None:
        yield _describe(env_url, f"DATABASE_URL ({redacted(env_url)})")
        return
    if choice in ("auto", "machine"):
        if _answers(MACHINE_URL):
            yield _describe(MACHINE_URL, f"the machine's PostgreSQL ({MACHINE_URL})")
            return
        if choice == "machine":
            raise SystemExit(f"--postgres machine: nothing answers at {MACHINE_URL}")
    with _embedded() as url:
        relative = EMBEDDED_DIR.relative_to(EMBEDDED_DIR.parent.parent)
        yield _describe(url, f"an embedded PostgreSQL of the benchmark's own ({relative})")


@contextmanager
def throwaway_database(server: PostgresServer, label: str = "") -> Iterator[str]:
    """A new database `bench_<hex><label>` on the server, dropped afterwards; yields its URL."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(databases.throwaway_database(server.url, "bench", label))
        except psycopg.errors.InsufficientPrivilege as error:
            raise SystemExit(
                f"the benchmark makes databases of its own, and may not: {error}"
            ) from None
        yield url


def backend_pids(url: str, *, last_query: str | None = None) -> list[int]:
    """The server processes of the other connections to the database of `url`; with
    `last_query`, of those whose latest statement was that one."""
    dbname = conninfo_to_dict(url).get("dbname")
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND (%s::text IS NULL OR query = %s)",
            (dbname, last_query, last_query),
        ).fetchall()
    return [int(row[0]) for row in rows]
