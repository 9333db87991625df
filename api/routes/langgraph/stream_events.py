"""POST /threads/{thread_id}/stream/events: a thread's long-lived event stream, as the newest
LangGraph SDKs read it; it stays open across turns until the client closes it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.sse import format_sse_event
from starlette.responses import Response, StreamingResponse

from api.auth import OwnerDep
from api.conversations import Conversations
from api.conversations.json import dumps
from api.conversations.protocol import envelope
from api.conversations.thread_streams import ResumeGap
from api.deps import ConversationsDep, SettingsDep
from api.routes.langgraph.requests import protocol_body
from api.routes.langgraph.responses import JSON

router = APIRouter()
logger = logging.getLogger("chat_server.thread_events")

_CHANNELS = frozenset(
    {"values", "updates", "messages", "tools", "custom", "lifecycle", "input", "tasks",
     "checkpoints"}
)  # fmt: skip
_HEARTBEAT = b": heartbeat\n\n"
_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}


class BadFilter(ValueError):
    """An event stream's filter that cannot be followed; its message says why."""


@dataclass(frozen=True)
class EventFilter:
    """Which events an event stream (or a socket's subscription) sends, and from where."""

    channels: frozenset[str]
    since: int | None

    def admits(self, method: str) -> bool:
        """Whether an event of `method` is sent."""
        return method in self.channels


def _bad_channels(channels: list[Any]) -> list[str]:
    return [
        repr(c) if not isinstance(c, str) else c
        for c in channels
        if not isinstance(c, str) or not (c in _CHANNELS or c.startswith("custom:"))
    ]


def _since(body: dict[str, Any]) -> int | None:
    since = body.get("since")
    if isinstance(since, int) and not isinstance(since, bool) and since >= 0:
        return since
    return None


def _at_root(body: dict[str, Any]) -> bool:
    """Whether the namespaces asked for (if any) take in the root graph's: every event here
    is the root's (`namespace: []`)."""
    namespaces = body.get("namespaces")
    if not isinstance(namespaces, list):
        return True
    kept = [ns for ns in namespaces if isinstance(ns, list) and all(isinstance(s, str) for s in ns)]
    return not kept or [] in kept


def event_filter(body: Any) -> EventFilter:
    """The filter of `{"channels", "namespaces"?, "depth"?, "since"?}`, as langgraph-api reads
    it; BadFilter if it has no channels or one it does not know."""
    channels = body.get("channels") if isinstance(body, dict) else None
    if not isinstance(channels, list) or not channels:
        raise BadFilter("channels is required and must be a non-empty array")
    if bad := _bad_channels(channels):
        allowed = ", ".join(sorted(_CHANNELS))
        raise BadFilter(
            f"channels contains unsupported entries: {', '.join(bad[:5])}. "
            f"Allowed: {allowed}, or any `custom:<name>`."
        )
    wanted = frozenset(channels) if _at_root(body) else frozenset()
    return EventFilter(wanted, _since(body))


def resume_gap(gap: ResumeGap) -> dict[str, Any]:
    return {
        "type": "error",
        "error": "resume_gap",
        "message": "the events after `since` are no longer kept",
        "since": gap.since,
        "min_available_seq": gap.min_available_seq,
    }


async def _events(
    conversations: Conversations,
    thread_id: UUID,
    owner: str,
    wanted: EventFilter,
    heartbeat_seconds: float,
) -> AsyncIterator[bytes]:
    try:
        events = conversations.thread_events(thread_id, owner, wanted.since, heartbeat_seconds)
        async for event in events:
            if event is None:
                yield _HEARTBEAT
            elif isinstance(event, ResumeGap):
                gap = dumps(resume_gap(event)).decode()
                yield format_sse_event(event="error", data_str=gap)
            elif wanted.admits(event.method):
                data = dumps(envelope(event)).decode()
                yield format_sse_event(event=event.method, data_str=data, id=str(event.seq))
    except Exception:
        # Once streaming has begun, a failure is one `error` event; the client reconnects.
        logger.exception("the event stream of thread %s failed", thread_id)
        error = {"type": "error", "error": "unknown_error", "message": "the stream failed"}
        yield format_sse_event(event="error", data_str=dumps(error).decode())


@router.post("/threads/{thread_id}/stream/events")
async def stream_events(
    thread_id: UUID,
    request: Request,
    conversations: ConversationsDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> Response:
    try:
        wanted = event_filter(await protocol_body(request, settings))
    except BadFilter as bad:
        return JSON({"detail": str(bad)}, status_code=400)
    stream = _events(conversations, thread_id, owner, wanted, settings.heartbeat_seconds)
    return StreamingResponse(stream, headers=_HEADERS, media_type="text/event-stream")
