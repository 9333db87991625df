from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal
from uuid import UUID, uuid4

from langchain_core.messages import HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from api.failures import DATABASE_ERRORS, Failure, classify
from api.saver import PooledPostgresSaver
from api.session_lock import SessionGone, SessionLocks
from graph import MODEL_NODE

logger = logging.getLogger("chat_server.turns")


@dataclass(frozen=True)
class Token:
    content: str


@dataclass(frozen=True)
class Reply:
    """The whole reply, once it is saved."""

    message_id: str


TurnEvent = Token | Reply | Failure
NO_SUCH_SESSION = Failure(404, "no such session")
OnDisconnect = Literal["continue", "cancel"]


def thread_config(session_id: UUID) -> RunnableConfig:
    return {"configurable": {"thread_id": str(session_id)}}


class Turn:
    """One running turn: its events as they come, read by the response that streams them."""

    def __init__(self, task: asyncio.Task[None], events: asyncio.Queue[TurnEvent]) -> None:
        self._task = task
        self._events = events
        self._ended = False

    async def next_event(self, timeout: float | None = None) -> TurnEvent | None:
        """The next event, or None when `timeout` seconds pass without one."""
        try:
            event = await asyncio.wait_for(self._events.get(), timeout)
        except TimeoutError:
            return None
        self._ended = not isinstance(event, Token)
        return event

    @property
    def ended(self) -> bool:
        return self._ended

    def cancel(self) -> None:
        self._task.cancel()


class TurnRunner:
    """Runs turns as tasks of their own, so a turn's fate does not hang on its client's."""

    def __init__(
        self,
        graph: CompiledStateGraph,
        saver: PooledPostgresSaver,
        locks: SessionLocks,
    ) -> None:
        self._graph = graph
        self._saver = saver
        self._locks = locks
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, session_id: UUID, owner: str, message: str) -> Turn:
        events: asyncio.Queue[TurnEvent] = asyncio.Queue()
        task = asyncio.create_task(self._run(session_id, owner, message, events))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Turn(task, events)

    async def drain(self, timeout: float) -> None:
        """Lets the turns still running finish (up to `timeout` seconds), then cancels them."""
        if not self._tasks:
            return
        logger.info("waiting for %d running turn(s) to finish", len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _run(
        self, session_id: UUID, owner: str, message: str, events: asyncio.Queue[TurnEvent]
    ) -> None:
        config = thread_config(session_id)
        human = HumanMessage(message, id=str(uuid4()))
        try:
            async with self._locks.hold(session_id, owner):
                try:
                    reply_id = await self._stream(config, human, events)
                except BaseException:
                    # A turn is saved whole or not at all: take the user's message back out.
                    await asyncio.shield(self._forget(config, human.id))
                    raise
                await self._prune(session_id)
                events.put_nowait(Reply(reply_id))
        except SessionGone:
            events.put_nowait(NO_SUCH_SESSION)
        except asyncio.CancelledError:
            events.put_nowait(Failure(503, "the turn was cancelled: the server is stopping"))
            raise
        except Exception as error:
            failure = classify(error)
            if failure.status == 500:
                logger.exception("turn on session %s failed", session_id)
            else:
                logger.warning("turn on session %s failed: %s (%r)", session_id, failure, error)
            events.put_nowait(failure)

    async def _prune(self, session_id: UUID) -> None:
        # The latest checkpoint holds the whole conversation: the ones before it are dead weight.
        # Pruned before the reply ends, so a client that saw `end` sees one checkpoint stored.
        try:
            await self._saver.keep_latest(str(session_id))
        except DATABASE_ERRORS:
            # The turn is saved; what is left over goes with the next turn's pruning.
            logger.warning("could not prune session %s", session_id, exc_info=True)

    async def _stream(
        self, config: RunnableConfig, human: HumanMessage, events: asyncio.Queue[TurnEvent]
    ) -> str:
        reply_id: str | None = None
        async for event in self._graph.astream_events(
            {"messages": [human]}, config, version="v2", durability="exit"
        ):
            if event["metadata"].get("langgraph_node") != MODEL_NODE:
                continue
            if event["event"] == "on_chat_model_stream":
                # Role, finish and usage chunks carry no text.
                if text := event["data"]["chunk"].text:
                    events.put_nowait(Token(text))
            elif event["event"] == "on_chat_model_end":
                reply_id = event["data"]["output"].id
        if reply_id is None:
            raise RuntimeError("the model node ended without a reply")
        return reply_id

    async def _forget(self, config: RunnableConfig, message_id: str | None) -> None:
        try:
            state = await self._graph.aget_state(config)
            if any(m.id == message_id for m in state.values.get("messages", [])):
                await self._graph.aupdate_state(
                    config, {"messages": [RemoveMessage(id=str(message_id))]}, as_node=MODEL_NODE
                )
            await self._prune(UUID(config["configurable"]["thread_id"]))
        except Exception:
            logger.exception("could not take back the message of a failed turn")
