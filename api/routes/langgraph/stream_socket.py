"""WS /threads/{thread_id}/stream/events: the thread-centric protocol on one WebSocket, as the
newest LangGraph SDKs speak it (the JS SDK sends every command on it; the Python SDK one
`subscription.subscribe`, and its other commands by POST /commands).

Every frame in is a command; out go the answers (no `method`) and the events of the socket's
subscriptions, in the envelope of the SSE form. A subscription sends the events it replays (after
`since`; without it, those of the turn running now), then its answer with their count, then each
new event, as langgraph-api's does. An event that two subscriptions of one socket take is sent
for each: the SDKs drop the second by its `event_id`.

With API_KEYS set, the key comes in the handshake (`Authorization: Bearer`, `X-Api-Key`, or
`?api_key=`, which is all a browser can send), or else in a first frame
`{"type": "auth", "api_key": …}`. There are no heartbeat frames: WebSocket pings (uvicorn's and
the SDKs', every 20 s) keep the socket alive, as on langgraph-api.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from functools import partial
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


class _Socket:
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
        self._subscriptions: dict[str, asyncio.Task[None]] = {}
        self._sending = asyncio.Lock()

    async def serve(self) -> None:
        """Answers the socket's commands until the client leaves."""
        try:
            while (message := await self._websocket.receive())["type"] == "websocket.receive":
                await self._received(message)
        except _GONE:
            pass
        finally:
            following = list(self._subscriptions.values())
            for task in following:
                task.cancel()
            await asyncio.gather(*following, return_exceptions=True)

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
        """The answer to `command`; None where its subscription has sent it."""
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
        await self._follow(command.id, str(uuid4()), _filter(command.checked_params()))

    async def _reconnect(self, command: Command) -> None:
        params = command.checked_params()
        wanted = _filter(params)
        if wanted.since is None:
            raise Refused("invalid_argument", "subscription.reconnect needs since, an integer >= 0")
        given = params.get("subscription_id")
        subscription_id = given if isinstance(given, str) and given else str(uuid4())
        await self._follow(command.id, subscription_id, wanted)

    async def _unsubscribe(self, command: Command) -> Frame:
        subscription_id = command.checked_params().get("subscription_id")
        if not isinstance(subscription_id, str):
            raise Refused("invalid_argument", "subscription.unsubscribe needs subscription_id")
        if (task := self._subscriptions.pop(subscription_id, None)) is None:
            raise Refused("no_such_subscription", f"no such subscription: {subscription_id}")
        task.cancel()
        await asyncio.wait([task])  # nothing of it is sent after the answer
        applied = await self._conversations.last_event_seq(self._thread_id, self._owner)
        return success(command.id, {}, applied)

    async def _follow(self, command_id: int, subscription_id: str, wanted: EventFilter) -> None:
        """Starts the subscription (in place of one of the same id); returns once it has sent
        its answer."""
        if (former := self._subscriptions.pop(subscription_id, None)) is not None:
            former.cancel()
            await asyncio.wait([former])
        answered = asyncio.Event()
        task = asyncio.create_task(self._deliver(command_id, subscription_id, wanted, answered))
        self._subscriptions[subscription_id] = task
        task.add_done_callback(partial(self._forget, subscription_id))
        await answered.wait()

    def _forget(self, subscription_id: str, task: asyncio.Task[None]) -> None:
        if self._subscriptions.get(subscription_id) is task:
            del self._subscriptions[subscription_id]

    async def _deliver(
        self, command_id: int, subscription_id: str, wanted: EventFilter, answered: asyncio.Event
    ) -> None:
        events = self._conversations.thread_events(
            self._thread_id, self._owner, wanted.since, self._settings.heartbeat_seconds
        )
        try:
            if isinstance(gap := await anext(events), ResumeGap):
                await self._send({**resume_gap(gap), "id": command_id})
                return
            applied = await self._conversations.last_event_seq(self._thread_id, self._owner)
            replayed = 0
            if await self._replays(wanted.since, applied):
                async for event in events:
                    if event is None or isinstance(event, ResumeGap):
                        break  # a silence: all there was to replay is sent
                    if wanted.admits(event.method):
                        await self._send(envelope(event))
                        replayed += 1
                    if event.seq >= applied:
                        break
            result = {"subscription_id": subscription_id, "replayed_events": replayed}
            await self._send(success(command_id, result, applied))
            answered.set()
            async for event in events:
                if event is not None and not isinstance(event, ResumeGap):
                    if wanted.admits(event.method):
                        await self._send(envelope(event))
        except _GONE:
            pass
        except Exception:
            # The client reconnects, as after any close but a 4xxx one.
            logger.exception("the event stream of thread %s failed", self._thread_id)
            with suppress(*_GONE):
                await self._websocket.close(1011, "the thread's event stream failed")
        finally:
            answered.set()

    async def _replays(self, since: int | None, applied: int) -> bool:
        """Whether a subscription replays events up to `applied` before it answers: those
        after `since`, or without it, those of the turn running now."""
        if since is not None:
            return since < applied
        return applied > 0 and await self._run_open_at(applied)

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

    async def _send(self, frame: Frame) -> None:
        text = dumps(frame).decode()
        async with self._sending:
            await self._websocket.send_text(text)


def _filter(params: dict[str, Any]) -> EventFilter:
    try:
        return event_filter(params)
    except BadFilter as bad:
        raise Refused("invalid_argument", str(bad)) from None
