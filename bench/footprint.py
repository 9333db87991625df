"""What a server leaves in PostgreSQL: its tables' rows and sizes, and the WAL written for its
database. Every table counts, whatever the server's layout, but for the schema-version tables
(`*migrations`), which hold no conversation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from uuid import uuid4

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench.postgres import PostgresServer, throwaway_database

_TABLES = """
SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND c.relname NOT LIKE '%migrations'
ORDER BY 1
"""


def _tables(conn: psycopg.Connection) -> list[str]:
    return [str(row[0]) for row in conn.execute(_TABLES).fetchall()]


def _scalar(conn: psycopg.Connection, query: str, params: tuple[object, ...] = ()) -> int:
    row = conn.execute(query, params or None).fetchone()
    assert row is not None
    return int(row[0])


@dataclass(frozen=True)
class Database:
    """A server's throwaway database."""

    url: str

    @property
    def name(self) -> str:
        return str(conninfo_to_dict(self.url)["dbname"])

    def rows(self) -> dict[str, int]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return {t: _scalar(conn, f"SELECT count(*) FROM {t}") for t in _tables(conn)}

    def sizes(self) -> dict[str, int]:
        """`pg_total_relation_size` of each table: heap, TOAST and indexes, dead rows too."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            query = "SELECT pg_total_relation_size(%s::regclass)"
            return {t: _scalar(conn, query, (t,)) for t in _tables(conn)}

    def vacuum_full(self) -> dict[str, int]:
        """The sizes once VACUUM FULL has rewritten every table with its live rows only."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for table in _tables(conn):
                conn.execute(f"VACUUM FULL {table}")
        return self.sizes()

    def vacuumed_copy(self, server_url: str) -> dict[str, int]:
        """`vacuum_full` of a copy, this database left as it is. The copy is made by
        `CREATE DATABASE ... TEMPLATE`, for which no one may be connected to this one."""
        with self._copy(server_url) as copy:
            return copy.vacuum_full()

    @contextmanager
    def _copy(self, server_url: str) -> Iterator[Database]:
        name = f"{self.name}_copy"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"')
        try:
            yield Database(make_conninfo(self.url, dbname=name))
        finally:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The records of the database's relations, and all records (commits among them) of the
# transactions that wrote them.
_WRITTEN = r"""
WITH records AS (
    SELECT xid::text::bigint AS xid, record_length, fpi_length, block_ref
    FROM pg_get_wal_records_info(%(start)s::pg_lsn, %(end)s::pg_lsn)
), ours AS (
    SELECT DISTINCT xid FROM records WHERE xid <> 0 AND block_ref ~ %(relation)s
)
SELECT coalesce(sum(record_length), 0), coalesce(sum(fpi_length), 0) FROM records
WHERE block_ref ~ %(relation)s OR xid IN (SELECT xid FROM ours)
"""


class WalReader:
    """Reads back which WAL records were written for one database between two positions.

    A temporary replication slot, where PostgreSQL allows one, keeps the WAL from being
    recycled before it is read: a checkpoint (every DROP DATABASE forces one, and others' tests
    drop theirs) lets PostgreSQL recycle the segments before it, and a span of turns is read
    back minutes after it began. The slot goes with the reader's connection."""

    def __init__(self, conn: psycopg.Connection, slot: str | None) -> None:
        self._conn = conn
        self._slot = slot

    def release(self, before: str) -> None:
        """Lets PostgreSQL recycle the WAL before `before`: nothing will read it again."""
        if self._slot is not None:
            self._conn.execute("SELECT pg_replication_slot_advance(%s, %s)", (self._slot, before))

    def lsn(self) -> str:
        row = self._conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])

    def written(self, database: Database, start: str, end: str) -> tuple[int, int]:
        """Bytes of WAL for `database` from `start` to `end`, and of those the full-page images."""
        if start == end:
            return 0, 0
        oid = _scalar(
            self._conn, "SELECT oid FROM pg_database WHERE datname = %s", (database.name,)
        )
        relation = rf"rel \d+/{oid}/"
        found = self._conn.execute(
            _WRITTEN, {"start": start, "end": end, "relation": relation}
        ).fetchone()
        assert found is not None
        return int(found[0]), int(found[1])


@contextmanager
def open_wal_reader(postgres: PostgresServer, notes: list[str]) -> Iterator[WalReader | None]:
    """pg_walinspect in a throwaway database of its own; None (and a note) where it cannot be
    had: it comes with PostgreSQL 15 and wants a superuser."""
    with throwaway_database(postgres, "_wal") as url, psycopg.connect(url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION pg_walinspect")
        except psycopg.Error as error:
            notes.append(f"no WAL figures: `CREATE EXTENSION pg_walinspect` failed ({error})")
            yield None
            return
        yield WalReader(conn, _hold_wal(conn, notes))


def _hold_wal(conn: psycopg.Connection, notes: list[str]) -> str | None:
    """A temporary physical replication slot that holds the WAL from now on; None (and a note)
    where PostgreSQL refuses one."""
    slot = f"bench_wal_{uuid4().hex[:12]}"
    try:
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true, true)", (slot,))
    except psycopg.Error as error:
        notes.append(
            f"the WAL was read without a replication slot to hold it ({error}): a checkpoint "
            "during a span of turns would have made its WAL unreadable"
        )
        return None
    return slot
