"""Channel versions (PooledPostgresSaver.get_next_version): 23 characters instead of upstream's
51, still unique across forks, which key full copies by version, and ordered after the versions
of rows an upstream saver wrote before."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

from graph import build_graph
from tests.support.fakes import FakeChatModel
from tests.support.stored import full_copies, stored_messages

if TYPE_CHECKING:
    from tests.store.conftest import OpenSaver

THREAD = "session"
START: RunnableConfig = {"configurable": {"thread_id": THREAD}}


def _texts(values: dict[str, Any]) -> list[str]:
    return [m.text for m in values["messages"]]


async def test_two_forks_that_each_write_a_full_copy_read_their_own_conversation(
    saver_alone: OpenSaver, new_database: str
) -> None:
    async with saver_alone() as saver:
        graph = build_graph(saver, model=FakeChatModel())
        for text in ("one", "two"):
            await graph.ainvoke({"messages": [HumanMessage(text)]}, START, durability="sync")
        history = [s async for s in graph.aget_state_history(START)]
        before_two = history[2].config  # the input checkpoint of the second turn
        assert history[2].metadata and history[2].metadata["source"] == "input"

        # Two edits of the second message, each a branch from the same checkpoint: LangGraph
        # copies the conversation whole at each, with the same version counter.
        heads = []
        for text in ("two, edited", "two, edited again"):
            await graph.ainvoke({"messages": [HumanMessage(text)]}, before_two, durability="sync")
            heads.append((await graph.aget_state(START)).config)

        assert len(full_copies(new_database, THREAD)) == 2
        expected = [
            ["one", "You said: one", "two, edited", "You said: two, edited"],
            ["one", "You said: one", "two, edited again", "You said: two, edited again"],
        ]
        for head, texts in zip(heads, expected, strict=True):
            assert _texts((await graph.aget_state(head)).values) == texts
            upstream = await stored_messages(
                new_database, THREAD, head["configurable"]["checkpoint_id"]
            )
            assert [m.text for m in upstream] == texts


async def test_rows_written_with_upstreams_versions_read_on(
    saver_alone: OpenSaver, new_database: str
) -> None:
    async with AsyncPostgresSaver.from_conn_string(new_database) as upstream:
        await upstream.setup()
        old = build_graph(upstream, model=FakeChatModel())
        for text in ("one", "two"):
            await old.ainvoke({"messages": [HumanMessage(text)]}, START, durability="sync")
        old_versions = (await old.aget_state(START)).config
    async with saver_alone() as saver:
        graph = build_graph(saver, model=FakeChatModel())
        await graph.ainvoke({"messages": [HumanMessage("three")]}, START, durability="sync")
        state = await graph.aget_state(START)
        assert _texts(state.values)[-2:] == ["three", "You said: three"]
        assert len(state.values["messages"]) == 6
        tuple_ = await saver.aget_tuple(state.config)
        assert tuple_ is not None
        versions = tuple_.checkpoint["channel_versions"]
        assert all(len(str(v)) == 23 for v in versions.values())
        # A branch from a checkpoint with upstream's versions.
        history = [s async for s in graph.aget_state_history(START)]
        model_next = next(
            s for s in history if s.next == ("model",) and len(s.values["messages"]) == 3
        )
        assert (
            model_next.config["configurable"]["checkpoint_id"]
            <= old_versions["configurable"]["checkpoint_id"]
        )
        await graph.ainvoke(None, model_next.config, durability="sync")
        assert _texts((await graph.aget_state(START)).values) == [
            "one",
            "You said: one",
            "two",
            "You said: two",
        ]
