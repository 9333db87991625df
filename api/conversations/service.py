"""`Conversations`: the one home of a conversation, which every front door calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID, uuid4

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import StateSnapshot

from api.conversations.events import TurnEvent
from api.conversations.failures import RunNotOpen, RunStillOpen, UnknownCheckpoint
from api.conversations.handle import Turn
from api.conversations.json import jsonable
from api.conversations.live_state import state_reached
from api.conversations.observer import ObserveTurn, unobserved
from api.conversations.replay import replayed
from api.conversations.state_refs import MessagesAt, Rebuilder
from api.conversations.thread_streams import ResumeGap, ThreadStreams
from api.conversations.turns import TurnRequest, TurnRunner, thread_config
from api.store.errors import RunNotFound, SessionNotFound
from api.store.locks import SessionLocks
from api.store.runs import Run, Runs
from api.store.saver import PooledPostgresSaver
from api.store.sessions import Session, SessionQuery, Sessions
from api.store.thread_events import StoredEvent
from api.store.turn_save import TurnSaves

_Found = TypeVar("_Found")


def _found(value: _Found | None) -> _Found:
    if value is None:
        raise SessionNotFound
    return value


@dataclass(frozen=True)
class Conversation:
    """A session and the state of its conversation."""

    session: Session
    state: StateSnapshot

    @property
    def messages(self) -> list[BaseMessage]:
        return list(self.state.values.get("messages", []))


@dataclass(frozen=True)
class GraphSchemas:
    """The graph's input, output and context as JSON schemas (None where it has none)."""

    input: dict[str, Any]
    output: dict[str, Any]
    context: dict[str, Any] | None


class Conversations:
    """The one home of a conversation: every front door calls this, and nothing in the store
    below it.

    A session belongs to the owner that created it ('' for everyone while the API is open);
    for any other owner it does not exist, and every method says so with SessionNotFound.
    """

    def __init__(
        self,
        graph: CompiledStateGraph,
        saver: PooledPostgresSaver,
        sessions: Sessions,
        locks: SessionLocks,
        saves: TurnSaves,
        streams: ThreadStreams,
        runs: Runs,
        observe: ObserveTurn = unobserved,
    ) -> None:
        self._graph = graph
        self._streams = streams
        self._runs = runs
        self._saver = saver
        self._sessions = sessions
        self._locks = locks
        self._turns = TurnRunner(graph, saver, locks, saves, streams, self._delete_session, observe)

    async def create(
        self,
        owner: str,
        *,
        session_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Session | None:
        """A new session; None if `session_id` is taken already."""
        return await self._sessions.create(owner, session_id=session_id, metadata=metadata)

    async def session(self, session_id: UUID, owner: str) -> Session:
        return _found(await self._sessions.get(session_id, owner))

    async def session_with_status(self, session_id: UUID, owner: str) -> Session:
        """The caller's session, with its `updated_at` and whether a turn runs on it now."""
        return _found(await self._sessions.describe(session_id, owner))

    async def latest_state(self, session: Session) -> StateSnapshot:
        return await self._graph.aget_state(thread_config(session.id))

    async def state_now(self, session: Session, owner: str) -> StateSnapshot:
        """The session's latest state, or, while a turn runs, the state that turn has reached
        (api/conversations/live_state.py)."""
        run_id = await self._streams.running_run(session.id, owner)
        if run_id is not None:
            events = await self._streams.recorded(session.id, owner, run_id)
            rebuilt = await Rebuilder(self._messages_at(session.id)).events(events)
            if (reached := state_reached(session.id, run_id, rebuilt)) is not None:
                return reached
        return await self.latest_state(session)

    async def conversation(self, session_id: UUID, owner: str) -> Conversation:
        session = await self.session(session_id, owner)
        return Conversation(session, await self.latest_state(session))

    async def state_at(self, session: Session, checkpoint_id: str) -> StateSnapshot:
        """The session's state at one of its checkpoints; UnknownCheckpoint if it has not."""
        state = await self._graph.aget_state(thread_config(session.id, checkpoint_id))
        if state.created_at is None:
            raise UnknownCheckpoint(checkpoint_id)
        return state

    async def history(
        self,
        session: Session,
        *,
        limit: int,
        before: str | None = None,
        checkpoint_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[StateSnapshot]:
        """The session's states, newest first, across every branch: up to `limit` of them,
        older than `before`, whose metadata holds `metadata`; only `checkpoint_id` if given."""
        return [
            state
            async for state in self._graph.aget_state_history(
                thread_config(session.id, checkpoint_id),
                filter=metadata or None,
                before=thread_config(session.id, before) if before else None,
                limit=limit,
            )
        ]

    async def update_state(
        self,
        session_id: UUID,
        owner: str,
        values: dict[str, Any] | None,
        *,
        as_node: str | None = None,
        from_checkpoint: str | None = None,
    ) -> str:
        """A new state written as `as_node` would, from a checkpoint or the latest: the
        session's new latest checkpoint, whose id is returned."""
        return await self._turns.update_state(session_id, owner, values, as_node, from_checkpoint)

    def graph_drawing(self, xray: bool | int) -> dict[str, Any]:
        """The graph's nodes and edges, as LangGraph draws them."""
        return self._graph.get_graph(xray=xray).to_json()

    def graph_schemas(self) -> GraphSchemas:
        return GraphSchemas(
            input=self._graph.get_input_jsonschema(),
            output=self._graph.get_output_jsonschema(),
            context=self._graph.get_context_jsonschema(),
        )

    async def update_metadata(
        self, session_id: UUID, owner: str, metadata: dict[str, Any]
    ) -> Session:
        return _found(await self._sessions.update_metadata(session_id, owner, metadata))

    async def delete(self, session_id: UUID, owner: str) -> None:
        """Deletes the session and its whole conversation, after any turn running on it."""
        # Without the row, no new turn can start; the lock waits out a turn already running,
        # whose checkpoint would otherwise land after the thread's deletion and outlive it.
        if not await self._sessions.delete(session_id, owner):
            raise SessionNotFound
        async with self._locks.hold_any(session_id):
            await self._saver.adelete_thread(str(session_id))

    async def _delete_session(self, session_id: UUID) -> None:
        """Deletes a session whose lock the caller holds."""
        await self._sessions.delete_any(session_id)
        await self._saver.adelete_thread(str(session_id))

    async def page(self, owner: str, limit: int, after: Session | None = None) -> list[Session]:
        return await self._sessions.page(owner, limit, after)

    async def search(self, owner: str, query: SessionQuery) -> tuple[list[Session], int]:
        return await self._sessions.search(owner, query)

    def start_turn(
        self,
        session_id: UUID,
        owner: str,
        messages: Sequence[HumanMessage],
        *,
        reject_if_busy: bool = False,
        from_checkpoint: str | None = None,
        discard: bool = False,
        run_id: str | None = None,
    ) -> Turn:
        """Starts a turn on the caller's session; wait on the `Turn` for whether it could.

        `reject_if_busy`: a 409 rather than a wait while another turn runs; `from_checkpoint`:
        run from that checkpoint, a new branch that becomes the latest (without messages, the
        run goes on from it); `discard`: delete the session after; `run_id`: the id of the
        turn's run, if its client chose it (a new one otherwise): every turn is a run, recorded
        in the thread's events, and its id is kept in its checkpoints' metadata.
        """
        request = TurnRequest(
            session_id,
            owner,
            messages,
            reject_if_busy,
            from_checkpoint,
            discard=discard,
            client_ids=tuple(m.id for m in messages if m.id),
            run_id=run_id or str(uuid4()),
        )
        return self._turns.start(request)

    async def start_streamed_turn(
        self,
        session_id: UUID,
        owner: str,
        messages: Sequence[HumanMessage],
        *,
        run_id: str,
        reject_if_busy: bool = False,
        from_checkpoint: str | None = None,
    ) -> None:
        """Starts a turn that no request follows (its events are in the thread's event
        stream), and returns once it runs or waits in line behind another turn; TurnRefused if
        it never will."""
        turn = self.start_turn(
            session_id,
            owner,
            messages,
            reject_if_busy=reject_if_busy,
            from_checkpoint=from_checkpoint,
            run_id=run_id,
        )
        await turn.queued()

    async def thread_events(
        self, session_id: UUID, owner: str, since: int | None, heartbeat_seconds: float
    ) -> AsyncIterator[StoredEvent | ResumeGap | None]:
        """The session's event stream, through any replica (ThreadStreams.follow), its
        states rebuilt whole."""
        rebuild = Rebuilder(self._messages_at(session_id))
        async for event in self._streams.follow(session_id, owner, since, heartbeat_seconds):
            if isinstance(event, StoredEvent):
                if (rebuilt := await rebuild.event(event)) is not None:
                    yield rebuilt
            else:
                yield event

    def _messages_at(self, session_id: UUID) -> MessagesAt:
        async def messages_at(checkpoint_id: str | None) -> list[Any] | None:
            if checkpoint_id is None:
                return []
            state = await self._graph.aget_state(thread_config(session_id, checkpoint_id))
            if state.created_at is None:
                return None
            return list(jsonable(state.values.get("messages", [])))

        return messages_at

    async def last_event_seq(self, session_id: UUID, owner: str) -> int:
        """The seq of the session's newest event (0: none)."""
        return await self._streams.last_seq(session_id, owner)

    async def describe_run(
        self, session_id: UUID, run_id: str, metadata: dict[str, Any], kwargs: dict[str, Any]
    ) -> None:
        """Keeps what the run's client said of it (its metadata, how it streams)."""
        await self._runs.describe(session_id, run_id, metadata, kwargs)

    async def run(self, session_id: UUID, owner: str, run_id: str) -> Run:
        """One of the session's runs, its status settled (SessionNotFound if it has none such)."""
        await self._streams.settle(session_id)
        if (run := await self._runs.get(session_id, owner, run_id)) is None:
            raise RunNotFound
        return run

    async def runs(
        self, session_id: UUID, owner: str, *, limit: int, offset: int, status: str | None
    ) -> list[Run]:
        """The session's runs, newest first (SessionNotFound if it is not the caller's)."""
        await self.session(session_id, owner)
        await self._streams.settle(session_id)
        return await self._runs.page(session_id, owner, limit, offset, status)

    async def run_events(
        self, session_id: UUID, owner: str, run_id: str, heartbeat_seconds: float
    ) -> AsyncIterator[tuple[int, TurnEvent] | None]:
        """The run's turn events from its first, each with its position in the turn (0 is the
        first), then each as it comes, to its end, through any replica (None after each
        silence); nothing if its events are no longer kept."""
        rebuild = Rebuilder(self._messages_at(session_id))
        pages = self._streams.run_events(session_id, owner, run_id, heartbeat_seconds)
        async for replay in replayed(pages, rebuild):
            yield replay

    async def running_run(self, session_id: UUID, owner: str) -> str | None:
        """The id of the run of the session that runs now, if one does."""
        return await self._streams.running_run(session_id, owner)

    async def cancel_run(self, session_id: UUID, owner: str, run_id: str) -> None:
        """Stops the run wherever it runs; nothing of it is stored. SessionNotFound if the
        session has no such run; RunNotOpen if it is over already."""
        if not await self._runs.cancel(session_id, owner, run_id):
            run = await self.run(session_id, owner, run_id)
            raise RunNotOpen(run.status)

    async def delete_run(self, session_id: UUID, owner: str, run_id: str) -> None:
        """Forgets a run that is over. SessionNotFound if there is none such; RunStillOpen if
        it has not ended."""
        if not await self._runs.delete(session_id, owner, run_id):
            run = await self.run(session_id, owner, run_id)
            raise RunStillOpen(run.status)

    async def drain(self, timeout: float) -> None:
        await self._turns.drain(timeout)
        await self._streams.drain()
