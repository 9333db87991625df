"""What a session keeps of its history (api/store/retention.py): every checkpoint, with full
copies of the conversation thinned to the newest along each branch, or its last turns only;
every state kept reads back exactly, as LangGraph's own saver rebuilds it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from api.store.saver import PooledPostgresSaver
from graph import build_graph
from graph.state import SNAPSHOT_EVERY_UPDATES
from tests.support.fakes import FakeChatModel
from tests.support.stored import checkpoint_rows, full_copies, stored_messages

if TYPE_CHECKING:
    from tests.store.conftest import OpenSaver

# Two updates of the conversation a turn: the user's message, then the reply.
TURNS_PER_COPY = SNAPSHOT_EVERY_UPDATES // 2
THREAD = "session"


async def _turns(
    graph: CompiledStateGraph, saver: PooledPostgresSaver, count: int, start: RunnableConfig
) -> RunnableConfig:
    """`count` turns from `start`, each followed by the retention a turn of the app applies;
    returns the config of the last checkpoint."""
    config = start
    for turn in range(count):
        message = HumanMessage(f"turn {turn}: some words of a message")
        await graph.ainvoke({"messages": [message]}, config, durability="sync")
        config = (await graph.aget_state({"configurable": {"thread_id": THREAD}})).config
        await saver.apply_retention(THREAD, config["configurable"]["checkpoint_id"])
    return config


async def _every_state(graph: CompiledStateGraph) -> dict[str, list[str]]:
    """Each checkpoint's conversation, as this saver's history gives it."""
    return {
        state.config["configurable"]["checkpoint_id"]: [m.text for m in state.values["messages"]]
        async for state in graph.aget_state_history({"configurable": {"thread_id": THREAD}})
        if "messages" in state.values
    }


async def _assert_exact(graph: CompiledStateGraph, database_url: str, every: int = 1) -> None:
    """Every `every`th state of the history reads back the same through LangGraph's own saver."""
    states = await _every_state(graph)
    assert states
    for checkpoint_id in list(states)[::every]:
        upstream = await stored_messages(database_url, THREAD, checkpoint_id)
        assert [m.text for m in upstream] == states[checkpoint_id], checkpoint_id


async def test_every_checkpoint_is_kept_with_only_the_newest_copy(
    saver_alone: OpenSaver, new_database: str
) -> None:
    async with saver_alone() as saver:
        graph = build_graph(saver, model=FakeChatModel())
        await _turns(graph, saver, 2 * TURNS_PER_COPY + 5, {"configurable": {"thread_id": THREAD}})

        turns = 2 * TURNS_PER_COPY + 5
        rows = checkpoint_rows(new_database, THREAD)
        # Three checkpoints a turn (the input, the message with the model next, the reply).
        assert rows["checkpoints"] == 3 * turns
        assert len(full_copies(new_database, THREAD)) == 1
        history = await _every_state(graph)
        assert len(history) == 3 * turns
        head = next(iter(history.values()))
        assert len(head) == 2 * turns
        await _assert_exact(graph, new_database, every=37)


async def test_a_branch_keeps_the_copy_it_rebuilds_from(
    saver_alone: OpenSaver, new_database: str
) -> None:
    async with saver_alone() as saver:
        graph = build_graph(saver, model=FakeChatModel())
        start: RunnableConfig = {"configurable": {"thread_id": THREAD}}
        await _turns(graph, saver, TURNS_PER_COPY + 3, start)
        [first_copy] = full_copies(new_database, THREAD)
        old_head = await graph.aget_state(start)

        # Edit the third-last message: a new branch from the input checkpoint of that turn.
        inputs = [
            s.config
            async for s in graph.aget_state_history(start)
            if s.metadata and s.metadata["source"] == "input"
        ]
        fork = await graph.ainvoke(
            {"messages": [HumanMessage("edited")]}, inputs[1], durability="sync"
        )
        assert [m.text for m in fork["messages"][-2:]] == ["edited", "You said: edited"]
        # Then the new branch grows past its next copy.
        head = (await graph.aget_state(start)).config
        await _turns(graph, saver, TURNS_PER_COPY + 2, head)

        copies = full_copies(new_database, THREAD)
        # The old branch's copy stays (the old branch's head rebuilds from it); on the new
        # branch, only its newest.
        assert first_copy in copies
        assert len(copies) == 2
        states = await _every_state(graph)
        old_head_id = old_head.config["configurable"]["checkpoint_id"]
        assert states[old_head_id] == [m.text for m in old_head.values["messages"]]
        await _assert_exact(graph, new_database, every=29)


async def test_a_number_of_turns_keeps_those_turns_and_every_branch(
    saver_alone: OpenSaver, new_database: str
) -> None:
    async with saver_alone(keep_turns=10) as saver:
        graph = build_graph(saver, model=FakeChatModel())
        start: RunnableConfig = {"configurable": {"thread_id": THREAD}}
        await _turns(graph, saver, 2 * TURNS_PER_COPY + 5, start)

        states = await _every_state(graph)
        turns = 2 * TURNS_PER_COPY + 5
        head = next(iter(states.values()))
        assert len(head) == 2 * turns
        # At least the last 10 turns, and none from before the copy they rebuild from.
        kept_turns = len(states) // 3
        assert 10 <= kept_turns <= 10 + TURNS_PER_COPY + 1
        assert kept_turns < turns
        await _assert_exact(graph, new_database, every=7)
