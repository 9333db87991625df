from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langgraph.graph.state import CompiledStateGraph

from api.database import Pool, database_url, make_pool
from api.saver import PooledPostgresSaver
from api.session_lock import SessionLocks
from api.sessions import SCHEMA, Sessions
from api.settings import Settings
from api.turns import TurnRunner
from graph import build_graph, make_chat_model

logger = logging.getLogger("chat_server")

# Any constant works: it only keeps two starting processes from creating the schema at once.
_SCHEMA_LOCK_KEY = 0x63686174


@dataclass(frozen=True)
class Resources:
    """What every request may use; built and torn down by the app's lifespan."""

    settings: Settings
    pool: Pool
    graph: CompiledStateGraph
    sessions: Sessions
    turns: TurnRunner
    saver: PooledPostgresSaver
    locks: SessionLocks


async def _prepare_schema(pool: Pool, saver: PooledPostgresSaver) -> None:
    async with pool.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK_KEY,))
        try:
            for statement in SCHEMA:
                await conn.execute(statement)
            await saver.setup()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK_KEY,))


@asynccontextmanager
async def open_resources(
    settings: Settings, chat_model: BaseChatModel | None = None
) -> AsyncIterator[Resources]:
    async with database_url(settings) as url:
        pool = make_pool(url, settings)
        await pool.open(wait=True, timeout=settings.db_connect_timeout_seconds)
        try:
            # The saver binds to the running event loop: it must be created here, not at import.
            saver = PooledPostgresSaver(pool)
            await _prepare_schema(pool, saver)
            graph = build_graph(
                saver, model=chat_model or make_chat_model(settings), settings=settings
            )
            locks = SessionLocks(url, settings.db_connect_timeout_seconds)
            sessions = Sessions(pool)
            turns = TurnRunner(graph, saver, locks)
            try:
                yield Resources(settings, pool, graph, sessions, turns, saver, locks)
            finally:
                await turns.drain(settings.shutdown_grace_seconds)
                await locks.close()
        finally:
            await pool.close()
