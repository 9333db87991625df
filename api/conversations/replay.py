"""A recorded run read back as the turn events it was recorded from, so that every front door
can stream a run it did not start (a reconnect, another replica, a second tab) through the
same encoder as a live one, each event under the same position (`turn_event`) as live.

The protocol keeps a reply's text and its message id; a replayed chunk carries those, and of
the graph's metadata only the node.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from langchain_core.messages import AIMessageChunk

from api.conversations.events import (
    Accepted,
    Checkpointed,
    Reply,
    Token,
    TurnEvent,
    Update,
    Values,
)
from api.conversations.failures import Failure
from api.conversations.state_refs import Rebuilder
from api.store.thread_events import StoredEvent
from graph import MODEL_NODE

# A failure read back: its status is not recorded, only what the client was told.
REPLAYED_FAILURE_STATUS = 500


@dataclass
class _Message:
    id: str
    metadata: dict[str, str] = field(default_factory=dict)


class _Replay:
    """Turns recorded events back into turn events, a group (the events of one turn event)
    at a time; the reply's message carries over from group to group."""

    def __init__(self) -> None:
        self._message: _Message | None = None
        self._next = 0

    def group(self, events: list[StoredEvent]) -> Iterator[tuple[int, TurnEvent]]:
        recorded = events[0].turn_event
        # An ending written by another replica for a dead process has no position: it is the
        # turn's next.
        position = self._next if recorded is None else recorded
        self._next = position + 1
        text: list[str] = []
        started = False
        for event in events:
            kind = event.data.get("event")
            if event.method == "messages":
                if kind == "message-start":
                    self._message = _Message(
                        str(event.data.get("id")), event.data.get("metadata", {})
                    )
                    started = True
                elif kind == "content-block-delta":
                    text.append(str(event.data.get("delta", {}).get("text", "")))
            elif (turn_event := _turn_event(event, self._message)) is not None:
                yield position, turn_event
        if (started or text) and self._message is not None:
            content = "".join(text)
            chunk = AIMessageChunk(content=content, id=self._message.id)
            yield position, Token(content, chunk, {"langgraph_node": MODEL_NODE})

    def page(self, events: list[StoredEvent]) -> Iterator[tuple[int, TurnEvent]]:
        group: list[StoredEvent] = []
        for event in events:
            if group and (event.turn_event is None or event.turn_event != group[0].turn_event):
                yield from self.group(group)
                group = []
            group.append(event)
        if group:
            yield from self.group(group)


async def replayed(
    pages: AsyncIterator[list[StoredEvent] | None], rebuild: Rebuilder
) -> AsyncIterator[tuple[int, TurnEvent] | None]:
    """The turn events of one run's recorded events, page by page as they are read, each
    with its position in the turn (0 is its first), its states rebuilt; None for each None
    (a silence)."""
    replay = _Replay()
    async for page in pages:
        if page is None:
            yield None
            continue
        for replayed_event in replay.page(await rebuild.events(page)):
            yield replayed_event


def _turn_event(event: StoredEvent, message: _Message | None) -> TurnEvent | None:
    data = event.data
    if event.method == "values":
        return Values(data)
    if event.method == "checkpoints":
        return Checkpointed(
            str(data.get("id")),
            data.get("parent_id"),
            int(data.get("step", -1)),
            str(data.get("source", "loop")),
        )
    if event.method == "updates":
        return Update(str(data.get("node")), data.get("values") or {})
    if event.method != "lifecycle":
        return None
    kind = data.get("event")
    if kind == "running":
        return Accepted()
    if kind == "completed":
        return Reply(message.id if message is not None else "")
    if kind == "failed":
        return Failure(REPLAYED_FAILURE_STATUS, str(data.get("error", "")))
    return None
