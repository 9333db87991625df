"""WS /threads/{thread_id}/stream/events: the thread-centric protocol on one WebSocket, as the
newest LangGraph SDKs speak it (the JS SDK sends every command on it; the Python SDK one
`subscription.subscribe`, and its other commands by POST /commands).

Every frame in is a command; out go the answers (no `method`) and the events of the socket's
subscriptions, in the envelope of the SSE form. A subscription sends the events it replays (after
`since`; without it, those of the turn running, or else of the last one begun since the socket
opened), then its answer with their count; then the thread's new events go out once each, in
order, to all the subscriptions that take them, as on langgraph-api.

With API_KEYS set, the key comes in the handshake (`Authorization: Bearer`, `X-Api-Key`, or
`?api_key=`, which is all a browser can send), or else in a first frame
`{"type": "auth", "api_key": …}`. There are no heartbeat frames: WebSocket pings (uvicorn's and
the SDKs', every 20 s) keep the socket alive, as on langgraph-api.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID, uuid4

import orjson
from fastapi import APIRouter, Depends, WebSocket
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect, WebSocketDisconnected

from api.auth import UNAUTHORIZED, socket_key, socket_owner
from api.conversations import Conversations
from api.conversations.failures import DATABASE_ERRORS, DATABASE_UNAVAILABLE
from api.conversations.json import dumps
from api.conversations.protocol import ENDINGS, envelope
from api.conversations.thread_streams import ResumeGap
from api.resources import Resources
from api.routes.langgraph.commands import (
    Command,
    Frame,
    Malformed,
    Refused,
    answer,
    error,
    success,
)
from api.routes.langgraph.stream_events import BadFilter, EventFilter, event_filter, resume_gap
from api.settings import Settings

router = APIRouter()
logger = logging.getLogger("chat_server.thread_events")

# 4000 + the HTTP status: the JS SDK reports a 401, and does not try again.
CLOSE_UNAUTHORIZED = 4401
_GONE = (WebSocketDisconnect, WebSocketDisconnected)


@router.websocket("/threads/{thread_id}/stream/events")
async def stream_socket(
    websocket: WebSocket,
    thread_id: UUID,
    key: Annotated[str | None, Depends(socket_key)],
) -> None:
    resources: Resources = websocket.state.resources
    await websocket.accept()
    owner = await socket_owner(websocket, resources.settings, key)
    if owner is None:
        with suppress(*_GONE):
            await websocket.close(CLOSE_UNAUTHORIZED, UNAUTHORIZED)
        return
    await _Socket(websocket, resources.conversations, resources.settings, owner, thread_id).serve()


def _json(message: Message) -> Any:
    """A frame's JSON; None when it is not JSON."""
    raw = message.get("text") or message.get("bytes")
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


@dataclass(frozen=True)
class _Subscription:
    wanted: EventFilter
    # It has the events up to this seq: replayed, or not asked for.
    after: int

    def takes(self, event: Frame) -> bool:
        return event["seq"] > self.after and self.wanted.admits(event["method"])


class _Socket:
    """One socket: its subscriptions, and the thread's new events, sent once each, in order,
    when a subscription takes them; a subscription's replay goes out between two of them."""

    def __init__(
        self,
        websocket: WebSocket,
        conversations: Conversations,
        settings: Settings,
        owner: str,
        thread_id: UUID,
    ) -> None:
        self._websocket = websocket
        self._conversations = conversations
        self._settings = settings
        self._owner = owner
        self._thread_id = thread_id
        self._subscriptions: dict[str, _Subscription] = {}
        # Held while a frame goes out, and through a subscription's replay and answer.
        self._sending = asyncio.Lock()
        # Where a subscription without `since` replays from (see _follow_thread).
        self._turn_from = 0

    async def serve(self) -> None:
        """Answers the socket's commands until the client leaves."""
        followed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        following = asyncio.create_task(self._follow_thread(followed))
        try:
            await followed
            while (message := await self._websocket.receive())["type"] == "websocket.receive":
                await self._received(message)
        except _GONE:
            pass
        finally:
            following.cancel()
            await asyncio.wait([following])

    async def _follow_thread(self, followed: asyncio.Future[None]) -> None:
        """Sends the thread's new events to the subscriptions that take them. Before `followed`
        is set, notes where the turn running now began, or else the last seq; then the start of
        each turn. A subscription without `since` replays from there, so one made after its
        turn has ended (the JS SDK subscribes once `run.start` is answered) still has it whole;
        one made before this has read the start of the latest turn has the one before too."""
        heartbeat = self._settings.heartbeat_seconds
        try:
            events = self._conversations.thread_events(
                self._thread_id, self._owner, None, heartbeat
            )
            await anext(events)  # followed from here on: from the running turn's start, or now
            last = await self._conversations.last_event_seq(self._thread_id, self._owner)
            first = await anext(events) if last and await self._run_open_at(last) else None
            self._turn_from = (
                last if first is None or isinstance(first, ResumeGap) else first.seq - 1
            )
            followed.set_result(None)
            async for event in events:
                if event is None or isinstance(event, ResumeGap):
                    continue
                frame = envelope(event)
                async with self._sending:
                    if event.method == "lifecycle" and event.data.get("event") == "running":
                        self._turn_from = event.seq - 1
                    if any(s.takes(frame) for s in self._subscriptions.values()):
                        await self._write(frame)
        except _GONE:
            pass
        except Exception:
            # The client reconnects, as after any close but a 4xxx one.
            logger.exception("the event stream of thread %s failed", self._thread_id)
            with suppress(*_GONE):
                await self._websocket.close(1011, "the thread's event stream failed")
        finally:
            if not followed.done():
                followed.set_result(None)

    async def _run_open_at(self, seq: int) -> bool:
        """Whether the thread's event `seq` is of a run that has not ended."""
        events = self._conversations.thread_events(
            self._thread_id, self._owner, seq - 1, self._settings.heartbeat_seconds
        )
        followed = False
        async for event in events:
            if event is None and not followed:
                followed = True
            elif event is None or isinstance(event, ResumeGap):
                return False  # pruned: long over
            else:
                return not (event.method == "lifecycle" and event.data.get("event") in ENDINGS)
        return False

    async def _received(self, message: Message) -> None:
        try:
            command = Command.of(_json(message))
        except Malformed as malformed:
            await self._send(error(None, "invalid_argument", str(malformed)))
            return
        try:
            frame = await self._answer(command)
        except DATABASE_ERRORS:
            logger.warning("a command on thread %s failed", self._thread_id, exc_info=True)
            frame = error(command.id, "unknown_error", DATABASE_UNAVAILABLE)
        if frame is not None:
            await self._send(frame)

    async def _answer(self, command: Command) -> Frame | None:
        """The answer to `command`; None where it is sent already."""
        socket_commands = {
            "subscription.subscribe": self._subscribe,
            "subscription.reconnect": self._reconnect,
            "subscription.unsubscribe": self._unsubscribe,
        }
        handle = socket_commands.get(command.method)
        if handle is None:
            return await answer(
                self._conversations, self._settings, self._owner, self._thread_id, command
            )
        try:
            return await handle(command)
        except Refused as refused:
            return error(command.id, refused.code, str(refused))

    async def _subscribe(self, command: Command) -> None:
        wanted = _filter(command.checked_params())
        await self._replay(command.id, str(uuid4()), wanted)

    async def _reconnect(self, command: Command) -> None:
        params = command.checked_params()
        wanted = _filter(params)
        if wanted.since is None:
            raise Refused("invalid_argument", "subscription.reconnect needs since, an integer >= 0")
        given = params.get("subscription_id")
        await self._replay(
            command.id, given if isinstance(given, str) and given else str(uuid4()), wanted
        )

    async def _unsubscribe(self, command: Command) -> Frame:
        subscription_id = command.checked_params().get("subscription_id")
        if not isinstance(subscription_id, str):
            raise Refused("invalid_argument", "subscription.unsubscribe needs subscription_id")
        async with self._sending:
            if self._subscriptions.pop(subscription_id, None) is None:
                raise Refused("no_such_subscription", f"no such subscription: {subscription_id}")
        applied = await self._conversations.last_event_seq(self._thread_id, self._owner)
        return success(command.id, {}, applied)

    async def _replay(self, command_id: int, subscription_id: str, wanted: EventFilter) -> None:
        """Sends the events a new subscription replays, then its answer; from then on it takes
        the thread's new events (in place of a subscription of the same id)."""
        since = self._turn_from if wanted.since is None else wanted.since
        async with self._sending:
            applied = await self._conversations.last_event_seq(self._thread_id, self._owner)
            replayed = 0
            if since < applied:
                events = self._conversations.thread_events(
                    self._thread_id, self._owner, since, self._settings.heartbeat_seconds
                )
                if isinstance(gap := await anext(events), ResumeGap):
                    await self._write({**resume_gap(gap), "id": command_id})
                    return
                async for event in events:
                    if event is None or isinstance(event, ResumeGap) or event.seq > applied:
                        break  # a silence (the rest is pruned), or a new event: not replayed
                    if wanted.admits(event.method):
                        await self._write(envelope(event))
                        replayed += 1
                    if event.seq == applied:
                        break
            self._subscriptions[subscription_id] = _Subscription(wanted, max(since, applied))
            result = {"subscription_id": subscription_id, "replayed_events": replayed}
            await self._write(success(command_id, result, applied))

    async def _send(self, frame: Frame) -> None:
        async with self._sending:
            await self._write(frame)

    async def _write(self, frame: Frame) -> None:
        await self._websocket.send_text(dumps(frame).decode())


def _filter(params: dict[str, Any]) -> EventFilter:
    try:
        return event_filter(params)
    except BadFilter as bad:
        raise Refused("invalid_argument", str(bad)) from None
