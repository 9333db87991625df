"""History entries (ThreadState) held against `langgraph dev`'s: the same branches, keys, next
steps and tasks, where the ids and times differ."""

from __future__ import annotations

from typing import Any

from tests.support.reference import SERVER_ONLY_METADATA, shape

# What langgraph-api adds to every checkpoint's metadata from the run that wrote it, and this
# server does not: its checkpoints carry what the graph writes (source, step, parents) and the
# run's `run_id`. No client here reads the rest (Agent Chat UI, both SDKs, RemoteGraph): the
# branch tree is built from `checkpoint` and `parent_checkpoint` alone.
RUN_METADATA = {
    "thread_id",
    "graph_id",
    "assistant_id",
    "user_id",
    "langgraph_auth_user_id",
    "langgraph_request_id",
}


def tree(history: list[dict[str, Any]]) -> list[int | None]:
    """Each state's parent, as its place in the list: the branches, without the ids."""
    place = {s["checkpoint"]["checkpoint_id"]: i for i, s in enumerate(history)}
    return [place.get((s["parent_checkpoint"] or {}).get("checkpoint_id")) for s in history]


def same_state(our: dict[str, Any], their: dict[str, Any]) -> None:
    assert set(our) == set(their)
    assert shape(our["values"]) == shape(their["values"])
    assert our["next"] == their["next"]
    assert set(our["checkpoint"]) == set(their["checkpoint"])
    if their["parent_checkpoint"] is None:
        # langgraph-api writes null where its schema wants an object: {} here, which every
        # client reads as none.
        assert our["parent_checkpoint"] == {}
    else:
        assert set(our["parent_checkpoint"]) == set(their["parent_checkpoint"])
    for key in ("source", "step", "parents"):
        assert our["metadata"][key] == their["metadata"][key]
    assert set(our["metadata"]) <= set(their["metadata"])
    assert set(their["metadata"]) - set(our["metadata"]) <= SERVER_ONLY_METADATA | RUN_METADATA
    assert [(t["name"], t["path"]) for t in our["tasks"]] == [
        (t["name"], t["path"]) for t in their["tasks"]
    ]
    for our_task, their_task in zip(our["tasks"], their["tasks"], strict=True):
        # Every key, null where langgraph-api writes null (RemoteGraph reads them all).
        assert set(our_task) == set(their_task)
        assert shape(our_task["result"]) == shape(their_task["result"])


def same_states(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    """History entries one for one: the same tree, keys, next steps, tasks and metadata."""
    assert len(ours) == len(theirs)
    assert tree(ours) == tree(theirs)
    for our, their in zip(ours, theirs, strict=True):
        same_state(our, their)
