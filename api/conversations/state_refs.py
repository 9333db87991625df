"""A turn's `values` events kept as references, not copies: a state is the checkpoint the
turn started from plus the messages the turn added, so what a turn records stays the same size
however long its conversation is. Read back, the state is rebuilt whole."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

from api.conversations.json import jsonable
from api.store.thread_events import StoredEvent

# The key that marks a recorded state as a reference: {checkpoint, kept}.
REFERENCE = "$state"

# The messages of the session's state at a checkpoint (None: before the first), as JSON; None
# if the checkpoint is no longer kept.
MessagesAt = Callable[[str | None], Awaitable[list[Any] | None]]


def reference(values: dict[str, Any], checkpoint: str | None, kept: int) -> dict[str, Any]:
    """`values`, a state whose first `kept` messages are those at `checkpoint`, as a reference."""
    messages = values.get("messages", [])
    return {
        **jsonable({key: value for key, value in values.items() if key != "messages"}),
        REFERENCE: {"checkpoint": checkpoint, "kept": kept},
        "messages": jsonable(list(messages[kept:])),
    }


class Rebuilder:
    """Rebuilds the referenced states of one reader's events, reading each checkpoint once."""

    def __init__(self, messages_at: MessagesAt) -> None:
        self._messages_at = messages_at
        self._read: dict[str | None, list[Any] | None] = {}

    async def events(self, events: Sequence[StoredEvent]) -> list[StoredEvent]:
        """`events` with their states rebuilt; a state whose checkpoint is gone is left out."""
        rebuilt = [await self.event(event) for event in events]
        return [event for event in rebuilt if event is not None]

    async def event(self, event: StoredEvent) -> StoredEvent | None:
        if event.method != "values" or REFERENCE not in event.data:
            return event
        data = await self._state(event.data)
        return None if data is None else replace(event, data=data)

    async def _state(self, data: dict[str, Any]) -> dict[str, Any] | None:
        ref = data[REFERENCE]
        checkpoint = ref["checkpoint"]
        if checkpoint not in self._read:
            self._read[checkpoint] = await self._messages_at(checkpoint)
        before = self._read[checkpoint]
        if before is None or len(before) < ref["kept"]:
            return None
        state = {key: value for key, value in data.items() if key != REFERENCE}
        state["messages"] = before[: ref["kept"]] + data["messages"]
        return state
