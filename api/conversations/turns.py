"""A turn: the user's message and the model's reply, run as a task of its own and saved whole
or not at all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

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
from api.conversations.failures import (
    DATABASE_ERRORS,
    REFUSALS,
    TURN_CANCELLED,
    Failure,
    MessageIdTaken,
    NothingToRun,
    TurnRefused,
    UnknownCheckpoint,
    classify,
    refusal,
)
from api.conversations.handle import Turn
from api.conversations.observer import ObserveTurn, Outcome, TurnObserver, unobserved
from api.conversations.thread_streams import ThreadStreams
from api.store.locks import SessionLocks
from api.store.saver import HeldBack, PooledPostgresSaver
from api.store.turn_save import TurnOvertaken, TurnSaves
from graph import MODEL_NODE

logger = logging.getLogger("chat_server.turns")

# Where a turn's events go: to the client that started it, and to its thread's recording.
Emit = Callable[[TurnEvent], None]


def thread_config(session_id: UUID, checkpoint_id: str | None = None) -> RunnableConfig:
    """The graph's config for the session: at its latest checkpoint, or at `checkpoint_id`."""
    configurable = {"thread_id": str(session_id)}
    if checkpoint_id is not None:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


@dataclass(frozen=True)
class TurnRequest:
    session_id: UUID
    owner: str
    messages: Sequence[HumanMessage]
    # Refuse (409) rather than wait while another turn of the session runs.
    reject_if_busy: bool = False
    # Run from this checkpoint of the session (None: its latest): a fork, whose new branch
    # becomes the session's latest. Without messages, the run goes on from the checkpoint
    # (a regenerated reply).
    from_checkpoint: str | None = None
    # Delete the session once the turn is over: a run that wants no thread kept.
    discard: bool = False
    # The ids the client gave its messages: none may be in the conversation already.
    client_ids: tuple[str, ...] = ()
    # The turn's run: its id in the thread's runs and events, and in its checkpoints' metadata.
    run_id: str = ""


class TurnRunner:
    """Runs turns as tasks of their own, so a turn's fate does not hang on its client's."""

    def __init__(
        self,
        graph: CompiledStateGraph,
        saver: PooledPostgresSaver,
        locks: SessionLocks,
        saves: TurnSaves,
        streams: ThreadStreams,
        delete_session: Callable[[UUID], Awaitable[None]],
        observe: ObserveTurn = unobserved,
    ) -> None:
        self._graph = graph
        self._saver = saver
        self._locks = locks
        self._saves = saves
        self._streams = streams
        self._delete_session = delete_session
        self._observe = observe
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, request: TurnRequest) -> Turn:
        """Starts the turn, recorded in its thread's events as its run `request.run_id`."""
        events: asyncio.Queue[TurnEvent] = asyncio.Queue()
        recording = self._streams.recording(request.session_id, request.run_id)

        def emit(event: TurnEvent) -> None:
            events.put_nowait(event)
            recording.add(event)

        task = asyncio.create_task(self._run(request, emit))
        recording.on_cancel(task.cancel)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._streams.closed(recording))
        return Turn(task, events, request.run_id)

    async def drain(self, timeout: float) -> None:
        """Lets the turns still running finish (up to `timeout` seconds), then cancels them."""
        if not self._tasks:
            return
        logger.info("waiting for %d running turn(s) to finish", len(self._tasks))
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def update_state(
        self,
        session_id: UUID,
        owner: str,
        values: dict[str, Any] | None,
        as_node: str | None,
        from_checkpoint: str | None,
    ) -> str:
        """Writes `values` as if `as_node` had (LangGraph's `update_state`), from
        `from_checkpoint` or the latest checkpoint, through the same lock and one fenced save
        as a turn; returns the new checkpoint's id, the session's latest."""
        async with self._locks.hold(session_id, owner, wait=True) as latest_checkpoint_id:
            if from_checkpoint is not None:
                await self._check_exists(session_id, from_checkpoint)
            with (
                self._saver.latest_checkpoint_known(str(session_id), latest_checkpoint_id),
                self._saver.held_back(str(session_id)) as held,
            ):
                await self._graph.aupdate_state(
                    thread_config(session_id, from_checkpoint), values, as_node=as_node
                )
            assert held.checkpoint_id is not None  # update_state always saves a checkpoint
            try:
                await self._save(session_id, latest_checkpoint_id, held, None)
            except TurnOvertaken as overtaken:
                raise TurnRefused(classify(overtaken)) from None
            return held.checkpoint_id

    async def _run(self, request: TurnRequest, emit: Emit) -> None:
        session_id = request.session_id
        observer = _Counting(self._observe(session_id))
        try:
            async with self._locks.hold(
                session_id,
                request.owner,
                wait=not request.reject_if_busy,
                on_queued=lambda: emit(Queued()),
                run_id=request.run_id,
            ) as latest_checkpoint_id:
                observer.locked()
                try:
                    start = request.from_checkpoint or latest_checkpoint_id
                    if request.from_checkpoint is not None:
                        await self._check_exists(session_id, request.from_checkpoint)
                    if start is None and not request.messages:
                        raise NothingToRun(None)  # a thread without a turn, and no message
                    if request.client_ids and start is not None:
                        await self._refuse_taken_ids(request, start)
                    emit(Accepted(start, len(request.messages)))
                    with self._saver.latest_checkpoint_known(str(session_id), latest_checkpoint_id):
                        reply_id = await self._run_and_save(
                            request, latest_checkpoint_id, emit, observer
                        )
                except BaseException:
                    if request.discard:
                        await asyncio.shield(self._delete_session(session_id))
                    raise
        except REFUSALS as refused:
            observer.end("rejected")
            emit(refusal(refused))
        except asyncio.CancelledError:
            observer.end("cancelled")
            emit(Failure(503, TURN_CANCELLED))
            raise
        except Exception as error:
            failure = classify(error)
            if failure.status == 500:
                logger.exception("turn on session %s failed", session_id)
            else:
                logger.warning("turn on session %s failed: %s (%r)", session_id, failure, error)
            observer.end(observer.failed(), error)
            emit(failure)
        else:
            emit(Reply(reply_id))

    async def _run_and_save(
        self,
        request: TurnRequest,
        started_from: str | None,
        emit: Emit,
        observer: _Counting,
    ) -> str:
        """Runs the turn with everything it writes held back, then saves it in one
        transaction, fenced on the session's latest checkpoint when it started: a turn that
        fails stores nothing."""
        session_id = request.session_id
        config = thread_config(session_id, request.from_checkpoint)
        config["metadata"] = {"run_id": request.run_id}
        with self._saver.held_back(str(session_id)) as held:
            reply_id = await self._stream(config, request.messages, emit, observer, held)
        if reply_id is None:
            raise NothingToRun(request.from_checkpoint)
        if request.discard:
            # Never saved: a client that saw the run end finds no trace of it.
            await asyncio.shield(self._delete_session(session_id))
        else:
            await self._save(session_id, started_from, held, request.run_id)
        # Before the client hears of it: a scrape made once it has the reply counts the turn.
        observer.end("completed")
        return reply_id

    async def _save(
        self, session_id: UUID, started_from: str | None, held: HeldBack, run_id: str | None
    ) -> None:
        """Saves what was held back, fenced on `started_from` (and on its run `run_id` being
        still open), then applies the retention."""
        await self._saves.commit(session_id, started_from, held, run_id)
        if held.checkpoint_id is not None:
            await self._prune(session_id, held.checkpoint_id)

    async def _check_exists(self, session_id: UUID, checkpoint_id: str) -> None:
        if await self._saver.aget_tuple(thread_config(session_id, checkpoint_id)) is None:
            raise UnknownCheckpoint(checkpoint_id)

    async def _refuse_taken_ids(self, request: TurnRequest, start: str) -> None:
        # add_messages would replace a message of the same id in place: history rewritten.
        messages = self._saver.remembered_messages(str(request.session_id), start)
        if messages is None:  # not in this process's memory: read from PostgreSQL
            config = thread_config(request.session_id, start)
            messages = (await self._graph.aget_state(config)).values.get("messages", [])
        stored = {m.id for m in messages}
        if taken := [i for i in request.client_ids if i in stored]:
            raise MessageIdTaken(taken)

    async def _prune(self, session_id: UUID, head: str) -> None:
        # Pruned before the reply ends, so a client that saw `end` sees what is kept.
        try:
            await self._saver.apply_retention(str(session_id), head)
        except DATABASE_ERRORS:
            # The turn is saved; what is left over goes with the next turn's pruning.
            logger.warning("could not prune session %s", session_id, exc_info=True)

    async def _stream(
        self,
        config: RunnableConfig,
        messages: Sequence[HumanMessage],
        emit: Emit,
        observer: _Counting,
        held: HeldBack,
    ) -> str | None:
        reply_id: str | None = None
        told = 0  # the checkpoints told of so far
        async for event in self._graph.astream_events(
            {"messages": list(messages)} if messages else None,
            config,
            version="v2",
            # Every step's checkpoint (the input, the user's message with the model next, the
            # reply), as the clients' history, regenerate and edit need them; held back and
            # saved together all the same.
            durability="sync",
            stream_mode=["values", "updates"],
        ):
            kind = event["event"]
            if kind == "on_chat_model_stream":
                if event["metadata"].get("langgraph_node") != MODEL_NODE:
                    continue
                chunk = event["data"]["chunk"]
                # Every chunk, as langgraph-api streams them; the role, finish and usage
                # chunks carry no text, and are no token of the reply.
                emit(Token(chunk.text, chunk, event["metadata"]))
                if chunk.text:
                    observer.token()
            elif kind == "on_chat_model_end":
                if event["metadata"].get("langgraph_node") == MODEL_NODE:
                    reply_id = event["data"]["output"].id
            elif kind == "on_chain_stream" and not event["parent_ids"]:
                mode, data = event["data"]["chunk"]
                if mode == "values":
                    # The state comes once its checkpoint is written: those not told of yet.
                    checkpoints = held.checkpoints()
                    for checkpoint_id, parent_id, metadata in checkpoints[told:]:
                        step, source = metadata.get("step", -1), metadata.get("source", "loop")
                        emit(Checkpointed(checkpoint_id, parent_id, step, str(source)))
                    told = len(checkpoints)
                    emit(Values(data))
                else:
                    for node, values in data.items():
                        emit(Update(node, values))
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
