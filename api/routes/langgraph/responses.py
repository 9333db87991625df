"""Sessions and their states in the shapes of the LangGraph Server API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from langchain_core.runnables import RunnableConfig
from langgraph.types import PregelTask, StateSnapshot
from starlette.responses import Response

from api.conversations import Run, Session
from api.conversations.json import dumps

GRAPH_ID = "chat"
# langgraph-api names a graph's system assistant uuid5(this namespace, graph id): clients that
# know the id (Agent Chat UI takes it as a setting) find the same assistant here.
ASSISTANT_ID = str(uuid5(UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), GRAPH_ID))
# Every session is a thread of the one graph, whichever door it came in by. A thread tells so in
# its metadata once a turn of it is saved: langgraph-api writes these there when a run is made,
# and clients list a graph's threads by them (Agent Chat UI, titled by the first message).
GRAPH_METADATA: dict[str, Any] = {"graph_id": GRAPH_ID, "assistant_id": ASSISTANT_ID}


def assistant(created_at: datetime) -> dict[str, Any]:
    return {
        "assistant_id": ASSISTANT_ID,
        "graph_id": GRAPH_ID,
        "config": {},
        "context": {},
        "metadata": {"created_by": "system"},
        "name": GRAPH_ID,
        "created_at": created_at,
        "updated_at": created_at,
        "version": 1,
        "description": None,
    }


def _metadata(session: Session) -> dict[str, Any]:
    # A thread whose first message failed or was refused is none of the graph's threads yet:
    # listed as one, it would be an entry with nothing in it.
    return {**GRAPH_METADATA, **session.metadata} if session.has_turn else session.metadata


def thread(session: Session, values: dict[str, Any] | None) -> dict[str, Any]:
    updated_at = session.updated_at or session.created_at
    return {
        "thread_id": str(session.id),
        "created_at": session.created_at,
        "updated_at": updated_at,
        "state_updated_at": updated_at,
        "metadata": _metadata(session),
        "status": "busy" if session.busy else "idle",
        "config": {},
        "values": values or {},
        "interrupts": {},
        "error": None,
    }


def _checkpoint(config: RunnableConfig | None) -> dict[str, Any]:
    configurable = (config or {}).get("configurable", {})
    if not configurable.get("checkpoint_id"):
        # Where langgraph-api writes null, against its own schema; the SDKs read both as none.
        return {}
    return {
        "checkpoint_id": configurable["checkpoint_id"],
        "thread_id": configurable["thread_id"],
        "checkpoint_ns": configurable.get("checkpoint_ns") or "",
    }


def _task(task: PregelTask) -> dict[str, Any]:
    # Every key as langgraph-api writes it, null included where its schema says a string or an
    # object: RemoteGraph reads `error`, `checkpoint` and `state` without looking first.
    return {
        "id": task.id,
        "name": task.name,
        "path": list(task.path),
        "error": None if task.error is None else repr(task.error),
        "interrupts": [],
        "checkpoint": None,
        "state": None,
        "result": task.result,
    }


def thread_state(state: StateSnapshot) -> dict[str, Any]:
    """As langgraph-api's `state_snapshot_to_thread_state` writes it."""
    checkpoint = _checkpoint(state.config)
    parent = _checkpoint(state.parent_config)
    return {
        "values": state.values,
        "next": list(state.next),
        "tasks": [_task(task) for task in state.tasks],
        "metadata": state.metadata or {},
        "created_at": state.created_at,
        "checkpoint": checkpoint,
        "parent_checkpoint": parent,
        "interrupts": [],
        "checkpoint_id": checkpoint.get("checkpoint_id"),
        "parent_checkpoint_id": parent.get("checkpoint_id"),
    }


def run(found: Run) -> dict[str, Any]:
    """A run as langgraph-api describes one."""
    return {
        "run_id": found.run_id,
        "thread_id": str(found.thread_id),
        "assistant_id": ASSISTANT_ID,
        "created_at": found.created_at,
        "updated_at": found.updated_at,
        "status": found.status,
        "metadata": found.metadata,
        "kwargs": found.kwargs,
        "multitask_strategy": found.kwargs.get("multitask_strategy", "enqueue"),
    }


class JSON(Response):
    """A JSON response written as `dumps` writes it."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
