"""The latest-state memory's replay: what it keeps of a session is the whole conversation that
LangGraph would rebuild from PostgreSQL, or nothing."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import CheckpointTuple, empty_checkpoint
from langgraph.checkpoint.serde.types import _DeltaSnapshot

from api.store.latest import LatestCheckpoints
from graph.state import DELTA_CHANNELS

# The task paths LangGraph gives a turn's two writes: the input's, then the model's.
INPUT_PATH = "~__pregel_pull, __start__"
MODEL_PATH = "~~0000000001~__pregel_pull, model"
# What a checkpoint of the chat graph lists as written so far, once the conversation has begun.
VERSIONS = ("__start__", "messages", "branch:to:model")


def _config(checkpoint_id: str, thread_id: str = "t") -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": "",
            "checkpoint_id": checkpoint_id,
        }
    }


def _checkpoint(
    checkpoint_id: str,
    parent_id: str | None,
    values: dict[str, Any] | None = None,
    versions: tuple[str, ...] = VERSIONS,
    thread_id: str = "t",
) -> CheckpointTuple:
    """A checkpoint as the saver hands it over: its delta channels absent unless copied whole."""
    checkpoint = empty_checkpoint()
    checkpoint["id"] = checkpoint_id
    checkpoint["channel_values"] = values or {}
    checkpoint["channel_versions"] = {name: 1 for name in versions}
    return CheckpointTuple(
        config=_config(checkpoint_id, thread_id),
        checkpoint=checkpoint,
        metadata={},
        parent_config=_config(parent_id, thread_id) if parent_id else None,
        pending_writes=[],
    )


def _messages(found: CheckpointTuple | None) -> list[BaseMessage]:
    assert found is not None
    return found.checkpoint["channel_values"]["messages"]


def _texts(found: CheckpointTuple | None) -> list[str]:
    return [m.text for m in _messages(found)]


def _turn(memory: LatestCheckpoints, parent_id: str, new_id: str, said: str, reply: str) -> None:
    """What the saver tells the memory of a turn: its two writes, then its checkpoint."""
    memory.wrote(_config(parent_id), [("messages", [HumanMessage(said, id=said)])], "a", INPUT_PATH)
    memory.wrote(_config(parent_id), [("messages", [AIMessage(reply, id=reply)])], "b", MODEL_PATH)
    memory.saved(_checkpoint(new_id, parent_id))


def _remembering(*texts: str, checkpoint_id: str = "c1", thread_id: str = "t") -> LatestCheckpoints:
    memory = LatestCheckpoints(10, DELTA_CHANNELS)
    messages = [HumanMessage(text, id=text) for text in texts]
    memory.remember(_checkpoint(checkpoint_id, None, {"messages": messages}, thread_id=thread_id))
    return memory


def test_a_checkpoint_after_its_parent_holds_the_whole_conversation() -> None:
    memory = _remembering("hello", "hi there")
    _turn(memory, "c1", "c2", "how are you?", "fine")
    found = memory.get("t")
    assert found is not None
    assert found.config["configurable"]["checkpoint_id"] == "c2"
    assert _texts(found) == ["hello", "hi there", "how are you?", "fine"]
    _turn(memory, "c2", "c3", "bye", "goodbye")
    assert _texts(memory.get("t")) == [
        "hello",
        "hi there",
        "how are you?",
        "fine",
        "bye",
        "goodbye",
    ]


def test_writes_replay_in_the_order_the_saver_reads_them_not_as_they_came() -> None:
    memory = _remembering("hello")
    # The model's write reaches the saver first; the input's task path sorts first.
    memory.wrote(_config("c1"), [("messages", [AIMessage("second", id="2")])], "b", MODEL_PATH)
    memory.wrote(_config("c1"), [("messages", [HumanMessage("first", id="1")])], "a", INPUT_PATH)
    memory.saved(_checkpoint("c2", "c1"))
    assert _texts(memory.get("t")) == ["hello", "first", "second"]


def test_writes_saved_on_another_checkpoint_are_not_replayed() -> None:
    memory = _remembering("hello")
    memory.wrote(
        _config("c0"), [("messages", [HumanMessage("elsewhere", id="2")])], "a", INPUT_PATH
    )
    memory.saved(_checkpoint("c2", "c1"))
    assert _texts(memory.get("t")) == ["hello"]


def test_a_new_threads_first_writes_count_though_saved_before_their_checkpoint() -> None:
    # LangGraph saves a new thread's input on its first checkpoint before that checkpoint.
    memory = LatestCheckpoints(10, DELTA_CHANNELS)
    memory.wrote(_config("c1"), [("messages", [HumanMessage("hello", id="1")])], "a", INPUT_PATH)
    memory.saved(_checkpoint("c1", None, versions=()))
    memory.wrote(_config("c1"), [("messages", [AIMessage("hi there", id="2")])], "b", MODEL_PATH)
    memory.saved(_checkpoint("c2", "c1"))
    assert _texts(memory.get("t")) == ["hello", "hi there"]


def test_a_full_copy_needs_no_parent() -> None:
    memory = LatestCheckpoints(10, DELTA_CHANNELS)
    copied = [HumanMessage("hello", id="1"), AIMessage("hi there", id="2")]
    memory.saved(_checkpoint("c9", "c8", {"messages": _DeltaSnapshot(copied)}))
    assert _messages(memory.get("t")) == copied


def test_a_checkpoint_whose_parent_is_not_remembered_is_forgotten() -> None:
    # Another process wrote c2: what this one remembers (c1) cannot be built on.
    memory = _remembering("hello")
    _turn(memory, "c2", "c3", "how are you?", "fine")
    assert memory.get("t") is None


def test_writes_pending_on_the_remembered_checkpoint_are_read_from_postgresql() -> None:
    memory = _remembering("hello")
    memory.wrote(_config("c1"), [("branch:to:model", None)], "a", INPUT_PATH)
    memory.wrote(_config("c1"), [("messages", [HumanMessage("again")])], "a", INPUT_PATH)
    # Pending writes of c1: only PostgreSQL has them with the checkpoint.
    assert memory.get("t") is None
    # The checkpoint made of them is remembered, its other channels' writes aside.
    memory.saved(_checkpoint("c2", "c1"))
    assert _texts(memory.get("t")) == ["hello", "again"]


def test_the_least_recently_used_session_goes_first() -> None:
    memory = LatestCheckpoints(2, DELTA_CHANNELS)
    for thread_id in ("a", "b"):
        memory.remember(_checkpoint("c1", None, {"messages": []}, thread_id=thread_id))
    assert memory.get("a") is not None
    memory.remember(_checkpoint("c1", None, {"messages": []}, thread_id="c"))
    assert [t for t in ("a", "b", "c") if memory.get(t) is not None] == ["a", "c"]


def test_a_memory_of_size_zero_keeps_nothing() -> None:
    memory = LatestCheckpoints(0, DELTA_CHANNELS)
    memory.remember(_checkpoint("c1", None, {"messages": []}))
    assert memory.get("t") is None


def test_forget_drops_the_session_and_its_writes() -> None:
    memory = _remembering("hello")
    memory.wrote(_config("c1"), [("messages", [HumanMessage("lost", id="2")])], "a", INPUT_PATH)
    memory.forget("t")
    memory.remember(_checkpoint("c1", None, {"messages": [HumanMessage("hello", id="1")]}))
    memory.saved(_checkpoint("c2", "c1"))
    assert _texts(memory.get("t")) == ["hello"]
