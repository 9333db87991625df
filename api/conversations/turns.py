"""A turn: the user's message and the model's reply, run as a task of its own and saved whole
or not at all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from api.conversations.events import Accepted, Reply, Token, TurnEvent, Update, Values
from api.conversations.failures import (
    DATABASE_ERRORS,
    REFUSALS,
    TURN_CANCELLED,
    Failure,
    MessageIdTaken,
    StaleCheckpoint,
    classify,
    refusal,
)
from api.conversations.handle import Turn
from api.conversations.observer import ObserveTurn, Outcome, TurnObserver, unobserved
from api.store.locks import SessionLocks
from api.store.saver import PooledPostgresSaver
from api.store.turn_save import TurnSaves
from graph import MODEL_NODE

logger = logging.getLogger("chat_server.turns")


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
    # The ids the client gave its messages: none may be in the conversation already.
    client_ids: tuple[str, ...] = ()


class TurnRunner:
    """Runs turns as tasks of their own, so a turn's fate does not hang on its client's."""

    def __init__(
        self,
        graph: CompiledStateGraph,
        saver: PooledPostgresSaver,
        locks: SessionLocks,
        saves: TurnSaves,
        delete_session: Callable[[UUID], Awaitable[None]],
        observe: ObserveTurn = unobserved,
    ) -> None:
        self._graph = graph
        self._saver = saver
        self._locks = locks
        self._saves = saves
        self._delete_session = delete_session
        self._observe = observe
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
        observer = _Counting(self._observe(session_id))
        try:
            async with self._locks.hold(
                session_id, request.owner, wait=not request.reject_if_busy
            ) as latest_checkpoint_id:
                observer.locked()
                try:
                    if request.at_checkpoint not in (None, latest_checkpoint_id):
                        raise StaleCheckpoint(request.at_checkpoint)
                    if request.client_ids and latest_checkpoint_id is not None:
                        await self._refuse_taken_ids(request, latest_checkpoint_id)
                    events.put_nowait(Accepted())
                    with self._saver.latest_checkpoint_known(str(session_id), latest_checkpoint_id):
                        reply_id = await self._run_and_save(
                            request, latest_checkpoint_id, events, observer
                        )
                except BaseException:
                    if request.discard:
                        await asyncio.shield(self._delete_session(session_id))
                    raise
        except REFUSALS as refused:
            observer.end("rejected")
            events.put_nowait(refusal(refused))
        except asyncio.CancelledError:
            observer.end("cancelled")
            events.put_nowait(Failure(503, TURN_CANCELLED))
            raise
        except Exception as error:
            failure = classify(error)
            if failure.status == 500:
                logger.exception("turn on session %s failed", session_id)
            else:
                logger.warning("turn on session %s failed: %s (%r)", session_id, failure, error)
            observer.end(observer.failed(), error)
            events.put_nowait(failure)
        else:
            events.put_nowait(Reply(reply_id))

    async def _run_and_save(
        self,
        request: TurnRequest,
        started_from: str | None,
        events: asyncio.Queue[TurnEvent],
        observer: _Counting,
    ) -> str:
        """Runs the turn with everything it writes held back, then saves it in one
        transaction, fenced on the checkpoint it started from: a turn that fails stores
        nothing."""
        session_id = request.session_id
        with self._saver.held_back(str(session_id)) as held:
            reply_id = await self._stream(
                thread_config(session_id), request.messages, events, observer
            )
        if request.discard:
            # Never saved: a client that saw the run end finds no trace of it.
            await asyncio.shield(self._delete_session(session_id))
        else:
            await self._saves.commit(session_id, started_from, held)
            await self._prune(session_id)
        # Before the client hears of it: a scrape made once it has the reply counts the turn.
        observer.end("completed")
        return reply_id

    async def _refuse_taken_ids(self, request: TurnRequest, latest_checkpoint_id: str) -> None:
        # add_messages would replace a message of the same id in place: history rewritten.
        messages = self._saver.remembered_messages(str(request.session_id), latest_checkpoint_id)
        if messages is None:  # not in this process's memory: read from PostgreSQL
            config = thread_config(request.session_id)
            config["configurable"]["checkpoint_id"] = latest_checkpoint_id
            messages = (await self._graph.aget_state(config)).values.get("messages", [])
        stored = {m.id for m in messages}
        if taken := [i for i in request.client_ids if i in stored]:
            raise MessageIdTaken(taken)

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
        observer: _Counting,
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
                    observer.token()
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


class _Counting:
    """The turn's observer, told each thing once, and knowing whether a token went out."""

    def __init__(self, observer: TurnObserver) -> None:
        self._observer = observer
        self._streamed = False
        self._ended = False

    def locked(self) -> None:
        self._observer.locked()

    def token(self) -> None:
        self._streamed = True
        self._observer.token()

    def failed(self) -> Outcome:
        return "failed_mid_reply" if self._streamed else "failed_before_first_token"

    def end(self, outcome: Outcome, error: BaseException | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._observer.end(outcome, error)
