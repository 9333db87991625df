"""A turn's save: one transaction, fenced on the checkpoint the turn started from, made again on
a new connection when the first one dies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

import psycopg
import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph.state import CompiledStateGraph

from api.store.pool import make_pool
from api.store.saver import HeldBack, PooledPostgresSaver
from api.store.schema import prepare_schema
from api.store.sessions import Sessions
from api.store.turn_save import TurnOvertaken, TurnSaves
from graph import DELTA_CHANNELS, build_graph
from tests.support.fakes import FakeChatModel
from tests.support.stored import checkpoint_rows, stored_turns


@dataclass
class Store:
    saver: PooledPostgresSaver
    sessions: Sessions
    saves: TurnSaves
    graph: CompiledStateGraph


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    pool = make_pool(database_url, min_size=1, max_size=2, timeout=10)
    await pool.open()
    try:
        saver = PooledPostgresSaver(pool, delta_channels=DELTA_CHANNELS)
        await prepare_schema(pool, saver)
        graph = build_graph(saver, model=FakeChatModel())
        yield Store(saver, Sessions(pool), TurnSaves(pool, saver, database_url), graph)
    finally:
        await pool.close()


async def _held_turn(store: Store, session_id: UUID, message: str) -> HeldBack:
    """A turn of the graph with everything it writes held back."""
    config = {"configurable": {"thread_id": str(session_id)}}
    with store.saver.held_back(str(session_id)) as held:
        await store.graph.ainvoke({"messages": [HumanMessage(message)]}, config, durability="exit")
    return held


async def test_a_turn_stores_nothing_until_its_save(store: Store, database_url: str) -> None:
    session = await store.sessions.create()
    assert session is not None
    held = await _held_turn(store, session.id, "hello")
    assert held.checkpoint_id is not None
    assert set(checkpoint_rows(database_url, str(session.id)).values()) == {0}

    await store.saves.commit(session.id, None, held)
    assert await stored_turns(database_url, str(session.id)) == [
        ("human", "hello"),
        ("ai", "You said: hello"),
    ]


async def test_a_turn_overtaken_by_another_stores_nothing(store: Store, database_url: str) -> None:
    session = await store.sessions.create()
    assert session is not None
    # Two turns from the same start, as when a lost lock lets a second one in.
    first = await _held_turn(store, session.id, "first")
    second = await _held_turn(store, session.id, "second")

    await store.saves.commit(session.id, None, first)
    with pytest.raises(TurnOvertaken):
        await store.saves.commit(session.id, None, second)

    assert await stored_turns(database_url, str(session.id)) == [
        ("human", "first"),
        ("ai", "You said: first"),
    ]
    with psycopg.connect(database_url) as conn:
        texts = conn.execute(
            "SELECT count(*) FROM checkpoint_writes WHERE thread_id = %s"
            " AND position('second'::bytea in blob) > 0",
            (str(session.id),),
        ).fetchone()
    assert texts == (0,)


async def test_a_save_whose_connection_died_is_made_on_a_new_one(
    store: Store, database_url: str
) -> None:
    session = await store.sessions.create()
    assert session is not None
    held = await _held_turn(store, session.id, "hello")
    # The pool's connections, just used, are handed out unchecked: kill their backends.
    with psycopg.connect(database_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend' AND application_name = ''"
        ).fetchone()
    assert killed is not None and killed[0] >= 1

    await store.saves.commit(session.id, None, held)
    assert await stored_turns(database_url, str(session.id)) == [
        ("human", "hello"),
        ("ai", "You said: hello"),
    ]
