"""The /chat API's two forms of a turn's stream: SSE, and plain text for people at a terminal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from langchain_core.messages import BaseMessage
from starlette.responses import StreamingResponse

from api.conversations import Failure, Reply, Token, Turn, TurnEvent, Values
from api.streaming.positions import EventId, Positioned, Replayed
from api.streaming.pump import StreamPolicy, pump, sse_response, text_response


def _data(**data: str) -> str:
    return json.dumps(data, ensure_ascii=False)


class ChatEvents(Positioned):
    """The /chat API's SSE: `token`s, then `end` or `error`; each event's id is the turn's
    run and its position (`<run>/<n>`), the Last-Event-ID that GET /chat/{id}/stream resumes
    from. A resumed stream (`with_user_message`) also says what the user sent (`message`)."""

    def __init__(
        self, run_id: str, *, after: EventId | None = None, with_user_message: bool = False
    ) -> None:
        super().__init__(self._named, prefix=f"{run_id}/", after=after)
        self._with_user_message = with_user_message

    def _named(self, event: TurnEvent) -> Iterator[tuple[str, str]]:
        if isinstance(event, Token):
            # A chunk without text (the model's role or finish chunk) is no token of the reply.
            if event.content:
                yield "token", _data(content=event.content)
        elif isinstance(event, Reply):
            yield "end", _data(message_id=event.message_id)
        elif isinstance(event, Failure):
            yield "error", _data(message=event.message)
        elif isinstance(event, Values) and self._with_user_message:
            self._with_user_message = False  # the first state holds the user's message
            if (message := _last_human(event.values)) is not None:
                yield "message", _data(role="user", content=message)
        # The state as a whole is for the LangGraph API's clients.


def _last_human(values: dict[str, Any]) -> str | None:
    for message in reversed(values.get("messages", [])):
        if isinstance(message, BaseMessage) and message.type == "human":
            return message.text
        if isinstance(message, dict) and message.get("type") == "human":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return None


# The reply itself, then a newline; if the reply breaks off, a last line says so.
def chat_text(event: TurnEvent | None) -> Iterable[bytes]:
    if isinstance(event, Token):
        return (event.content.encode(),) if event.content else ()
    if isinstance(event, Reply):
        return (b"\n",)
    if isinstance(event, Failure):
        return (f"\n[error: the reply was cut off: {event.message}]\n".encode(),)
    return ()


def wants_event_stream(accept: str | None) -> bool:
    return accept is not None and "text/event-stream" in accept.lower()


def stream_response(
    turn: Turn, where: str, *, event_stream: bool, policy: StreamPolicy
) -> StreamingResponse:
    """The turn's reply, with the address of its run (`where`) in `Content-Location`: a
    client that lost the connection before the first event still knows which run it was."""
    headers = {"Content-Location": where}
    if event_stream:
        return sse_response(pump(turn, ChatEvents(turn.run_id), policy), headers)
    return text_response(pump(turn, chat_text, policy), headers)


def resumed_events(events: Replayed, run_id: str, after: EventId | None) -> AsyncIterator[bytes]:
    """A reply read back from its thread's events as the /chat API's SSE, with the user's
    message first unless resumed `after` an event."""
    return ChatEvents(run_id, after=after, with_user_message=after is None).replay(events)


async def resumed_text(events: Replayed) -> AsyncIterator[bytes]:
    """A reply read back as plain text, from its start."""
    async for replayed in events:
        if replayed is not None:
            for data in chat_text(replayed[1]):
                yield data
