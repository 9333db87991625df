"""A turn's events as the thread-centric streaming protocol's `(method, data)` pairs: the
order langgraph-api gives one turn of this graph, `lifecycle` running, `values`, the reply's
`messages`, `values`, `lifecycle` completed (or failed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from api.conversations.events import (
    Accepted,
    Checkpointed,
    Queued,
    Reply,
    Token,
    TurnEvent,
    Update,
    Values,
)
from api.conversations.failures import Failure
from api.conversations.json import jsonable
from api.conversations.state_refs import reference
from api.store.thread_events import StoredEvent

GRAPH_NAME = "chat"
CHANNELS = frozenset({"lifecycle", "messages", "values", "updates", "checkpoints"})
# The lifecycle events that end a run, as the SDKs read them.
ENDINGS = frozenset({"completed", "failed", "interrupted"})

ProtocolEvent = tuple[str, dict[str, Any]]
_USAGE = ("input_tokens", "output_tokens", "total_tokens")


def lifecycle(event: str, **data: Any) -> ProtocolEvent:
    return "lifecycle", {"event": event, "graph_name": GRAPH_NAME, **data}


def _start_metadata(response_metadata: dict[str, Any]) -> dict[str, Any]:
    """The provider and model a reply's first chunk names, as langchain-core's own
    `message-start` carries them."""
    names = {"model_provider": "provider", "model_name": "model"}
    return {names[key]: value for key, value in response_metadata.items() if key in names}


class ProtocolEncoder:
    """One turn's encoder: it opens the reply's message at its first chunk and finishes it at
    the turn's next event that is no chunk."""

    def __init__(self) -> None:
        self._message: str | None = None
        self._text: list[str] = []
        self._usage: dict[str, int] = {}
        self._metadata: dict[str, Any] = {}
        self._running = False
        self._started = Accepted()
        # How many messages of the turn's states are the starting checkpoint's.
        self._kept: int | None = None

    def __call__(self, event: TurnEvent) -> Iterator[ProtocolEvent]:
        if not isinstance(event, Token):
            yield from self._finish_message()
        if isinstance(event, Queued):
            return
        if isinstance(event, Accepted):
            self._running = True
            self._started = event
            yield lifecycle("running")
        elif isinstance(event, Values):
            yield "values", self._state(event.values)
        elif isinstance(event, Checkpointed):
            checkpoint = {"id": event.id, "step": event.step, "source": event.source}
            if event.parent_id is not None:
                checkpoint["parent_id"] = event.parent_id
            yield "checkpoints", checkpoint
        elif isinstance(event, Update):
            yield "updates", {"node": event.node, "values": jsonable(event.values)}
        elif isinstance(event, Token):
            yield from self._token(event)
        elif isinstance(event, Reply):
            yield lifecycle("completed")
        elif isinstance(event, Failure):
            if not self._running:  # refused before it ran: the client still hears its end
                yield lifecycle("running")
            yield lifecycle("failed", error=event.message)

    def _state(self, values: dict[str, Any]) -> dict[str, Any]:
        """The state as a reference to the checkpoint the turn started from: its first state
        is that checkpoint's and the turn's input (api/conversations/state_refs.py)."""
        if self._kept is None:
            self._kept = len(values.get("messages", [])) - self._started.inputs
        return reference(values, self._started.started_from, self._kept)

    def _token(self, token: Token) -> Iterator[ProtocolEvent]:
        chunk = token.chunk
        if self._message is None:
            self._message = str(chunk.id)
            start: dict[str, Any] = {"event": "message-start", "role": "ai", "id": self._message}
            if hints := _start_metadata(chunk.response_metadata):
                start["metadata"] = hints
            yield "messages", start
            yield (
                "messages",
                {
                    "event": "content-block-start",
                    "index": 0,
                    "content": {"type": "text", "text": ""},
                },
            )
        if token.content:
            self._text.append(token.content)
            yield (
                "messages",
                {
                    "event": "content-block-delta",
                    "index": 0,
                    "delta": {"type": "text-delta", "text": token.content},
                },
            )
        if usage := chunk.usage_metadata:
            counts = (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"])
            for key, count in zip(_USAGE, counts, strict=True):
                self._usage[key] = self._usage.get(key, 0) + count
        if chunk.response_metadata:
            self._metadata.update(jsonable(chunk.response_metadata))

    def _finish_message(self) -> Iterator[ProtocolEvent]:
        if self._message is None:
            return
        text = "".join(self._text)
        yield (
            "messages",
            {
                "event": "content-block-finish",
                "index": 0,
                "content": {"type": "text", "text": text},
            },
        )
        finish: dict[str, Any] = {"event": "message-finish"}
        if self._usage:
            finish["usage"] = self._usage
        if self._metadata:
            finish["metadata"] = self._metadata
        yield "messages", finish
        self._message, self._text, self._usage, self._metadata = None, [], {}, {}


def event_id(event: StoredEvent) -> str:
    """The event's id on every connection and replica. A lifecycle's is the synthetic one
    langgraph-api gives, from which the JS SDK reads the run id."""
    if event.method == "lifecycle":
        return f"synth:{event.run_id}:lc||{event.data.get('event')}"
    return f"{_millis(event)}-{event.seq}"


def envelope(event: StoredEvent) -> dict[str, Any]:
    return {
        "type": "event",
        "event_id": event_id(event),
        "seq": event.seq,
        "method": event.method,
        "params": {"namespace": [], "timestamp": _millis(event), "data": event.data},
    }


def _millis(event: StoredEvent) -> int:
    return int(event.created_at.timestamp() * 1000)
