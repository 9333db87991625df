"""The state a running turn has reached, read from its recorded events: a turn's checkpoints
are saved only at its end, but a client that opens a thread mid-turn (a reload, a second tab)
must see the turn under way, as langgraph-api shows it (the user's message, `next: ["model"]`,
a task), to know that it should follow the thread's stream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from langgraph.types import PregelTask, StateSnapshot

from api.conversations.turns import thread_config
from api.store.thread_events import StoredEvent
from graph import MODEL_NODE


def state_reached(
    thread_id: UUID, run_id: str, events: Sequence[StoredEvent]
) -> StateSnapshot | None:
    """The state of the run's latest recorded checkpoint, with the model still to run; None
    before its first state is recorded. `events`: the run's, their states rebuilt."""
    values = next((e for e in reversed(events) if e.method == "values"), None)
    checkpoint = next((e for e in reversed(events) if e.method == "checkpoints"), None)
    if values is None or checkpoint is None:
        return None
    checkpoint_id = str(checkpoint.data["id"])
    parent_id = checkpoint.data.get("parent_id")
    metadata: dict[str, Any] = {
        "source": checkpoint.data.get("source", "loop"),
        "step": checkpoint.data.get("step", 0),
        "run_id": run_id,
    }
    task_id = str(uuid5(NAMESPACE_URL, f"{checkpoint_id}/{MODEL_NODE}"))
    return StateSnapshot(
        values=values.data,
        next=(MODEL_NODE,),
        config=thread_config(thread_id, checkpoint_id),
        metadata=metadata,  # type: ignore[arg-type]
        created_at=checkpoint.created_at.isoformat(),
        parent_config=thread_config(thread_id, parent_id) if parent_id else None,
        tasks=(PregelTask(task_id, MODEL_NODE, ("__pregel_pull", MODEL_NODE)),),
        interrupts=(),
    )
