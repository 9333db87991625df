"""A turn's events as the LangGraph Server API streams a run: in the stream modes asked for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.sse import format_sse_event
from langchain_core.messages import AIMessageChunk, message_chunk_to_message

from api.conversations import Failure, Token, TurnEvent, Update, Values
from api.conversations.json import dumps
from api.routes.langgraph.responses import GRAPH_METADATA
from api.streaming.positions import EventId, Positioned

# The `error` of an `event: error`, as the SDKs raise it, by the status the failure would have.
_ERROR_NAMES = {
    404: "NotFound",
    409: "Conflict",
    502: "ModelError",
    503: "ServiceUnavailable",
    504: "ModelTimeout",
}


def run_event(name: str, data: Any) -> bytes:
    return format_sse_event(event=name, data_str=dumps(data).decode())


class RunEncoder(Positioned):
    """A turn's events as the stream modes a LangGraph client asked for, each with its id
    (api/streaming/positions.py); those up to `after` left out."""

    def __init__(
        self, run_id: str, thread_id: str, modes: set[str], after: EventId | None = None
    ) -> None:
        super().__init__(self._named, after=after)
        self._modes = modes
        self._run_metadata = {**GRAPH_METADATA, "run_id": run_id, "thread_id": thread_id}
        # `messages` mode sends each message whole so far, so the chunks are added up here.
        self._partial: dict[str, AIMessageChunk] = {}

    def metadata(self, run_id: str) -> list[bytes]:
        """The stream's first event, at position 0."""
        if self._after is not None:
            return []  # the client has it
        data = dumps({"run_id": run_id, "attempt": 1}).decode()
        return [self.event("metadata", data, (0, 0))]

    def _named(self, event: TurnEvent) -> Iterator[tuple[str, str]]:
        for name, data in self._events(event):
            yield name, dumps(data).decode()

    def _events(self, event: TurnEvent) -> Iterator[tuple[str, Any]]:
        if isinstance(event, Values):
            if "values" in self._modes:
                yield "values", event.values
        elif isinstance(event, Update):
            if "updates" in self._modes:
                yield "updates", {event.node: event.values}
        elif isinstance(event, Token):
            yield from self._token(event)
        elif isinstance(event, Failure):
            name = _ERROR_NAMES.get(event.status, "InternalError")
            yield "error", {"error": name, "message": event.message}

    def _token(self, token: Token) -> Iterator[tuple[str, Any]]:
        # Every chunk of the model, text or not, as langgraph-api sends them; asked for both
        # modes, it sends `messages-tuple` only.
        if "messages-tuple" in self._modes:
            metadata = {**token.metadata, **self._run_metadata}
            yield "messages", [token.chunk, metadata]
        elif "messages" in self._modes:
            message_id = str(token.chunk.id)
            if message_id in self._partial:
                self._partial[message_id] += token.chunk
            else:
                self._partial[message_id] = token.chunk
                metadata = {**token.metadata, **self._run_metadata}
                yield "messages/metadata", {message_id: {"metadata": metadata}}
            # The message so far as a whole message (`ai`), not a chunk.
            partial = message_chunk_to_message(self._partial[message_id])
            yield "messages/partial", [partial]
