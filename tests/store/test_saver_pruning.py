"""PooledPostgresSaver.prune_superseded keeps exactly what a session's latest state is rebuilt
from: after a full copy of the conversation, the copy and nothing before it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest
from langchain_core.messages import HumanMessage
from langgraph.graph.state import CompiledStateGraph

from api.store.saver import PooledPostgresSaver
from graph import build_graph
from graph.state import SNAPSHOT_EVERY_UPDATES
from tests.support.fakes import FakeChatModel
from tests.support.stored import checkpoint_footprint, stored_messages

if TYPE_CHECKING:
    from tests.store.conftest import OpenSaver

# Two updates of the conversation a turn: the user's message, then the reply.
TURNS_PER_COPY = SNAPSHOT_EVERY_UPDATES // 2


@pytest.fixture
async def saver(saver_alone: OpenSaver) -> AsyncIterator[PooledPostgresSaver]:
    """Without memory: every turn reads its state back from PostgreSQL, pruned or not."""
    async with saver_alone() as saver:
        yield saver


async def _turns(
    graph: CompiledStateGraph, saver: PooledPostgresSaver, thread_id: str, first: int, last: int
) -> None:
    """Turns `first` to `last` of the thread, each saved and then pruned as a turn of the app is."""
    config = {"configurable": {"thread_id": thread_id}}
    for turn in range(first, last + 1):
        message = HumanMessage(f"turn {turn}: some words of a message")
        await graph.ainvoke({"messages": [message]}, config, durability="exit")
        await saver.prune_superseded(thread_id)


def _rows(database_url: str, thread_id: str) -> tuple[int, int, int]:
    footprint = checkpoint_footprint(database_url, thread_id)
    return (
        footprint["checkpoints"],
        footprint["checkpoint_blobs"],
        footprint["checkpoint_writes"],
    )


async def test_pruning_keeps_the_newest_copy_and_what_came_after(
    saver: PooledPostgresSaver, new_database: str
) -> None:
    graph = build_graph(saver, model=FakeChatModel())
    await _turns(graph, saver, "other", 1, 3)
    other = checkpoint_footprint(new_database, "other")

    await _turns(graph, saver, "session", 1, TURNS_PER_COPY - 1)
    # Before the first copy nothing is superseded: a checkpoint a turn (and the first, of the
    # input), two writes a turn, no blob.
    assert _rows(new_database, "session") == (TURNS_PER_COPY, 0, 2 * (TURNS_PER_COPY - 1))

    # The turn that writes the copy, before its pruning.
    config = {"configurable": {"thread_id": "session"}}
    await graph.ainvoke({"messages": [HumanMessage("the copying turn")]}, config, durability="exit")
    assert _rows(new_database, "session")[1] == 1
    before = await stored_messages(new_database, "session")
    assert len(before) == 2 * TURNS_PER_COPY

    await saver.prune_superseded("session")
    # The copy alone: its checkpoint and its blob; the writes it was made of are in it.
    assert _rows(new_database, "session") == (1, 1, 0)
    assert await stored_messages(new_database, "session") == before
    # Another session's rows are left alone.
    assert checkpoint_footprint(new_database, "other") == other

    # Later turns build on the copy, and pruning after them deletes nothing they need.
    await _turns(graph, saver, "session", TURNS_PER_COPY + 1, TURNS_PER_COPY + 2)
    assert _rows(new_database, "session") == (3, 1, 4)
    after = await stored_messages(new_database, "session")
    assert after[: len(before)] == before
    assert [m.text for m in after[len(before) :: 2]] == [
        f"turn {turn}: some words of a message" for turn in (TURNS_PER_COPY + 1, TURNS_PER_COPY + 2)
    ]
