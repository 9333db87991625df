"""Throwaway databases: made empty on a PostgreSQL server, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import uuid4

import psycopg
from psycopg.conninfo import make_conninfo


@contextmanager
def throwaway_database(server_url: str, prefix: str, suffix: str = "") -> Iterator[str]:
    """A new, empty database `<prefix>_<hex><suffix>` on the server of `server_url`, dropped
    afterwards with whatever is still connected to it; yields its URL."""
    name = f"{prefix}_{uuid4().hex[:16]}{suffix}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
