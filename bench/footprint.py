"""What a server leaves in PostgreSQL: its tables' rows and sizes, and the WAL written for its
database. Every table counts, whatever the server's layout, but for the schema-version tables
(`*migrations`), which hold no conversation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

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
    """Reads back which WAL records were written for one database between two positions."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

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
        yield WalReader(conn)
