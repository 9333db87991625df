"""A turn: the user's message and the model's reply, run as a task of its own and saved whole
or not at all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from langchain_core.messages import AIMessageChunk, BaseMessage, HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from api.conversations.failures import DATABASE_ERRORS, Failure, classify
from api.observability.turn_watch import TurnWatch, watch_turn
from api.store.errors import NO_SUCH_SESSION, SessionBusy, SessionNotFound
from api.store.locks import SessionLocks
from api.store.saver import PooledPostgresSaver
from graph import MODEL_NODE

logger = logging.getLogger("chat_server.turns")

OnDisconnect = Literal["continue", "cancel"]


@dataclass(frozen=True)
class Values:
    """The whole state: once with the user's message in it, once more with the reply."""

    values: dict[str, Any]


@dataclass(frozen=True)
class Update:
    """What a node of the graph wrote."""

    node: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Token:
    content: str
    # The model's chunk and the graph's metadata about it, for clients that want them whole.
    chunk: AIMessageChunk
    metadata: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Reply:
    """The whole reply, once it is saved."""

    message_id: str


TurnEvent = Values | Update | Token | Reply | Failure
# Events up to the first of these go out together: until then, a failure is a status code.
_STARTS_A_REPLY = (Token, Reply, Failure)


def thread_config(session_id: UUID) -> RunnableConfig:
    return {"configurable": {"thread_id": str(session_id)}}


@dataclass(frozen=True)
class TurnRequest:
    session_id: UUID
    owner: str
    messages: Sequence[HumanMessage]
    # Refuse (409) rather than wait while another turn of the session runs.
    reject_if_busy: bool = False
    # Run only if this is still the session's latest checkpoint (None: whatever it is).
    at_checkpoint: str | None = None
    # Delete the session once the turn is over: a run that wants no thread kept.
    discard: bool = False


class Turn:
    """One running turn: its events as they come, read by the response that streams them."""

    def __init__(self, task: asyncio.Task[None], events: asyncio.Queue[TurnEvent]) -> None:
        self._task = task
        self._events = events
        self._ended = False

    async def next_event(self, timeout: float | None = None) -> TurnEvent | None:
        """The next event, or None when `timeout` seconds pass without one."""
        if self._events.empty():
            try:
                # Not wait_for: it wraps the get in a task of its own, once per token.
                async with asyncio.timeout(timeout):
                    event = await self._events.get()
            except TimeoutError:
                return None
        else:
            event = self._events.get_nowait()
        self._ended = isinstance(event, Reply | Failure)
        return event

    async def opening(self) -> list[TurnEvent]:
        """The events up to the reply's first token, or up to the turn's end if it has none."""
        events: list[TurnEvent] = []
        while not events or not isinstance(events[-1], _STARTS_A_REPLY):
            event = await self.next_event()
            assert event is not None
            events.append(event)
        return events

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
        discard: Callable[[UUID], Awaitable[None]],
    ) -> None:
        self._graph = graph
        self._saver = saver
        self._locks = locks
        self._discard = discard
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, request: TurnRequest) -> Turn:
        events: asyncio.Queue[TurnEvent] = asyncio.Queue()
        task = asyncio.create_task(self._run(request, events))
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

    async def _run(self, request: TurnRequest, events: asyncio.Queue[TurnEvent]) -> None:
        session_id = request.session_id
        config = thread_config(session_id)
        waits = not request.reject_if_busy
        try:
            async with (
                watch_turn(session_id, refusals=_REFUSALS) as watch,
                self._locks.hold(session_id, request.owner, wait=waits) as head,
            ):
                watch.locked()
                try:
                    if request.at_checkpoint not in (None, head):
                        raise StaleCheckpoint(request.at_checkpoint)
                    with self._saver.latest_checkpoint_known(str(session_id), head):
                        await self._take(request, config, events, watch)
                except BaseException:
                    if request.discard:
                        await asyncio.shield(self._discard(session_id))
                    raise
        except SessionNotFound:
            events.put_nowait(Failure(404, NO_SUCH_SESSION))
        except SessionBusy:
            events.put_nowait(Failure(409, "the session is busy with another turn; try again"))
        except StaleCheckpoint as stale:
            events.put_nowait(Failure(409, str(stale)))
        except asyncio.CancelledError:
            events.put_nowait(Failure(503, "the turn was cancelled before it ended"))
            raise
        except Exception as error:
            failure = classify(error)
            if failure.status == 500:
                logger.exception("turn on session %s failed", session_id)
            else:
                logger.warning("turn on session %s failed: %s (%r)", session_id, failure, error)
            events.put_nowait(failure)

    async def _take(
        self,
        request: TurnRequest,
        config: RunnableConfig,
        events: asyncio.Queue[TurnEvent],
        watch: TurnWatch,
    ) -> None:
        try:
            reply_id = await self._stream(config, request.messages, events, watch)
        except BaseException:
            # A turn is saved whole or not at all: take the user's messages back out.
            await asyncio.shield(self._forget(config, request.messages))
            raise
        if request.discard:
            # Gone before the reply ends: a client that saw it end finds no trace of the run.
            await asyncio.shield(self._discard(request.session_id))
        else:
            await self._prune(request.session_id)
        watch.completed()
        events.put_nowait(Reply(reply_id))

    async def _prune(self, session_id: UUID) -> None:
        # The latest checkpoint holds the whole conversation: the ones before it are dead weight.
        # Pruned before the reply ends, so a client that saw `end` sees one checkpoint stored.
        try:
            await self._saver.prune_superseded(str(session_id))
        except DATABASE_ERRORS:
            # The turn is saved; what is left over goes with the next turn's pruning.
            logger.warning("could not prune session %s", session_id, exc_info=True)

    async def _stream(
        self,
        config: RunnableConfig,
        messages: Sequence[HumanMessage],
        events: asyncio.Queue[TurnEvent],
        watch: TurnWatch,
    ) -> str:
        reply_id: str | None = None
        async for event in self._graph.astream_events(
            {"messages": list(messages)},
            config,
            version="v2",
            durability="exit",
            stream_mode=["values", "updates"],
        ):
            kind = event["event"]
            if kind == "on_chat_model_stream":
                if event["metadata"].get("langgraph_node") != MODEL_NODE:
                    continue
                chunk = event["data"]["chunk"]
                # Role, finish and usage chunks carry no text.
                if text := chunk.text:
                    events.put_nowait(Token(text, chunk, event["metadata"]))
                    watch.token()
            elif kind == "on_chat_model_end":
                if event["metadata"].get("langgraph_node") == MODEL_NODE:
                    reply_id = event["data"]["output"].id
            elif kind == "on_chain_stream" and not event["parent_ids"]:
                mode, data = event["data"]["chunk"]
                if mode == "values":
                    events.put_nowait(Values(data))
                else:
                    for node, values in data.items():
                        events.put_nowait(Update(node, values))
        if reply_id is None:
            raise RuntimeError("the model node ended without a reply")
        return reply_id

    async def _forget(self, config: RunnableConfig, messages: Sequence[BaseMessage]) -> None:
        try:
            state = await self._graph.aget_state(config)
            ours = {m.id for m in messages}
            stored = [m.id for m in state.values.get("messages", []) if m.id in ours]
            if stored:
                await self._graph.aupdate_state(
                    config,
                    {"messages": [RemoveMessage(id=str(i)) for i in stored]},
                    as_node=MODEL_NODE,
                )
            await self._prune(UUID(config["configurable"]["thread_id"]))
        except Exception:
            logger.exception("could not take back the messages of a failed turn")


class StaleCheckpoint(Exception):
    def __init__(self, checkpoint_id: str) -> None:
        super().__init__(
            f"checkpoint {checkpoint_id} is not the session's latest: this server continues a "
            "session only from its latest checkpoint (regenerating or editing an earlier "
            "message is not supported)"
        )


# A turn that ends with one of these never ran: the metrics count it as rejected.
_REFUSALS = (SessionNotFound, SessionBusy, StaleCheckpoint)
