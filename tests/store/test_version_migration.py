"""Rows an upstream saver wrote, with its 51-character channel versions, given the compact
versions by the schema's migration: the conversation reads back the same, through LangGraph's
own saver too, and a turn and a fork go on from it."""

from __future__ import annotations

import psycopg
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row

from api.store.pool import make_pool
from api.store.saver import PooledPostgresSaver
from api.store.schema import prepare_schema
from graph import DELTA_CHANNELS, build_graph
from tests.support.fakes import FakeChatModel
from tests.support.stored import stored_messages

THREAD = "session"
START: RunnableConfig = {"configurable": {"thread_id": THREAD}}


def _versions(database_url: str) -> set[str]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT v.value #>> '{}' AS version FROM checkpoints,"
            " jsonb_each(checkpoint -> 'channel_versions') v"
            " UNION SELECT s.value #>> '{}' FROM checkpoints,"
            " jsonb_each(checkpoint -> 'versions_seen') n, jsonb_each(n.value) s"
            " UNION SELECT version FROM checkpoint_blobs"
        ).fetchall()
    return {r["version"] for r in rows}


async def test_upstreams_versions_are_made_compact_and_read_on(new_database: str) -> None:
    # Each turn's input is a blob, keyed by its version like a full copy.
    async with AsyncPostgresSaver.from_conn_string(new_database) as upstream:
        await upstream.setup()
        old = build_graph(upstream, model=FakeChatModel())
        for turn in range(3):
            message = HumanMessage(f"turn {turn}")
            await old.ainvoke({"messages": [message]}, START, durability="sync")
        history = [s.config async for s in old.aget_state_history(START)]
    before = {c["configurable"]["checkpoint_id"]: None for c in history}
    for checkpoint_id in before:
        before[checkpoint_id] = await stored_messages(new_database, THREAD, checkpoint_id)
    assert min(len(v) for v in _versions(new_database)) > 23

    pool = make_pool(new_database, min_size=1, max_size=4, timeout=10)
    await pool.open()
    try:
        saver = PooledPostgresSaver(pool, delta_channels=DELTA_CHANNELS)
        await prepare_schema(pool, saver)
        assert {len(v) for v in _versions(new_database)} == {23}
        for checkpoint_id, messages in before.items():
            assert await stored_messages(new_database, THREAD, checkpoint_id) == messages
        graph = build_graph(saver, model=FakeChatModel())
        await graph.ainvoke({"messages": [HumanMessage("again")]}, START, durability="sync")
        state = await graph.aget_state(START)
        assert [m.text for m in state.values["messages"]][-2:] == ["again", "You said: again"]
        assert len(state.values["messages"]) == 8
        # Regenerate the first reply: a fork from a migrated checkpoint.
        [model_next] = [
            s
            async for s in graph.aget_state_history(START)
            if s.next == ("model",) and len(s.values["messages"]) == 1
        ]
        forked = await graph.ainvoke(None, model_next.config, durability="sync")
        assert [m.text for m in forked["messages"]] == ["turn 0", "You said: turn 0"]
    finally:
        await pool.close()
