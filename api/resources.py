from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from openai import DefaultAioHttpClient

from api.conversations import Conversations
from api.conversations.thread_streams import ThreadStreams
from api.observability.turn_watch import watch_turn
from api.settings import Settings
from api.store.database import Pool, database_url
from api.store.locks import OnLost, SessionLocks
from api.store.pool import make_pool
from api.store.runs import Runs
from api.store.saver import PooledPostgresSaver
from api.store.schema import prepare_schema
from api.store.sessions import OWNED, Sessions
from api.store.thread_events import ThreadEvents
from api.store.turn_save import TurnSaves
from api.streaming import StreamPolicy
from graph import DELTA_CHANNELS, build_graph, make_chat_model

# How often each process deletes the thread events older than THREAD_EVENTS_RETENTION_SECONDS.
_PRUNE_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class Resources:
    """What every request may use; built and torn down by the app's lifespan."""

    settings: Settings
    pool: Pool
    conversations: Conversations
    stream_policy: StreamPolicy


@asynccontextmanager
async def open_resources(
    settings: Settings,
    chat_model: BaseChatModel | None = None,
    *,
    on_lock_loss: OnLost | None = None,
) -> AsyncIterator[Resources]:
    """Everything a request may use; `on_lock_loss` hears whenever the connection holding the
    session locks is lost, with the number of sessions whose locks went with it."""
    configured = settings.database_url
    async with database_url(
        configured.get_secret_value() if configured else None, settings.embedded_data_dir
    ) as url:
        pool = make_pool(
            url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            timeout=settings.db_pool_timeout_seconds,
        )
        await pool.open(wait=True, timeout=settings.db_connect_timeout_seconds)
        try:
            # The saver binds to the running event loop: it must be created here, not at import.
            saver = PooledPostgresSaver(
                pool,
                delta_channels=DELTA_CHANNELS,
                cached_sessions=settings.state_cache_sessions,
                keep_turns=settings.keep_turns,
            )
            await prepare_schema(pool, saver)
            model_http = DefaultAioHttpClient()
            graph = build_graph(
                saver,
                model=chat_model or make_chat_model(settings, model_http),
                settings=settings,
            )
            locks = SessionLocks(
                url,
                settings.db_connect_timeout_seconds,
                owned=OWNED,
                run_lease_seconds=settings.run_lease_seconds,
                on_lost=on_lock_loss,
            )
            saves = TurnSaves(pool, saver, url)
            runs = Runs(pool, settings.run_lease_seconds)
            thread_events = ThreadEvents(pool, runs, settings.thread_events_retention_seconds)
            streams = ThreadStreams(thread_events, runs, url, settings.db_connect_timeout_seconds)
            conversations = Conversations(
                graph, saver, Sessions(pool), locks, saves, streams, runs, watch_turn
            )
            policy = StreamPolicy(settings.heartbeat_seconds, settings.on_disconnect)
            background = [
                asyncio.create_task(streams.run_forever()),
                asyncio.create_task(thread_events.prune_forever(_PRUNE_EVERY_SECONDS)),
            ]
            try:
                yield Resources(settings, pool, conversations, policy)
            finally:
                await conversations.drain(settings.shutdown_grace_seconds)
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await locks.close()
                await model_http.aclose()
        finally:
            await pool.close()
