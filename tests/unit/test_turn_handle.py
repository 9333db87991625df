"""`Turn`, as the front doors read it: the moments they wait for, the events they stream, and
what a client that leaves early does to the turn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from langchain_core.messages import AIMessageChunk

from api.conversations import (
    Accepted,
    Failure,
    Queued,
    Reply,
    Token,
    Turn,
    TurnEvent,
    TurnRefused,
    Values,
)


def _token(text: str) -> Token:
    return Token(text, AIMessageChunk(text), {})


@pytest.fixture
async def running() -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(asyncio.sleep(3600))
    yield task
    task.cancel()


def _queued(*events: TurnEvent) -> asyncio.Queue[TurnEvent]:
    queue: asyncio.Queue[TurnEvent] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    return queue


async def test_started_waits_for_the_first_token_and_the_stream_replays_what_came_before(
    running: asyncio.Task[None],
) -> None:
    state = Values({"messages": []})
    turn = Turn(
        running, _queued(Accepted(), state, _token("Hel"), _token("lo"), Reply("m1")), "run-1"
    )
    await turn.started()
    assert [event async for event in turn.events()] == [
        Accepted(),
        state,
        _token("Hel"),
        _token("lo"),
        Reply("m1"),
    ]
    assert turn.ended


async def test_a_chunk_without_text_has_not_started_the_reply(
    running: asyncio.Task[None],
) -> None:
    # The model's role chunk comes first, with no text: a failure after it is still a status.
    role = _token("")
    turn = Turn(running, _queued(Accepted(), role, Failure(502, "the connection failed")), "run-1")
    with pytest.raises(TurnRefused) as refused:
        await turn.started()
    assert refused.value.failure.status == 502

    turn = Turn(running, _queued(Accepted(), role, _token("Hel")), "run-1")
    await turn.started()
    assert not turn.ended


async def test_accepted_returns_before_the_model_has_said_anything(
    running: asyncio.Task[None],
) -> None:
    queue = _queued(Accepted())
    turn = Turn(running, queue, "run-1")
    await turn.accepted()
    assert not turn.ended
    queue.put_nowait(Failure(502, "the model server answered HTTP 500"))
    # Once accepted, a model failure is an event of the stream, not a refusal.
    assert [event async for event in turn.events()] == [
        Accepted(),
        Failure(502, "the model server answered HTTP 500"),
    ]


@pytest.mark.parametrize("moment", ["accepted", "started"])
async def test_a_refused_turn_raises_its_failure(running: asyncio.Task[None], moment: str) -> None:
    turn = Turn(running, _queued(Failure(404, "no such session")), "run-1")
    with pytest.raises(TurnRefused) as refused:
        await getattr(turn, moment)()
    assert refused.value.failure == Failure(404, "no such session")


async def test_a_model_failure_before_the_first_token_fails_started_but_not_accepted(
    running: asyncio.Task[None],
) -> None:
    turn = Turn(
        running, _queued(Accepted(), Failure(504, "the model did not answer in time")), "run-1"
    )
    await turn.accepted()
    with pytest.raises(TurnRefused) as refused:
        await turn.started()
    assert refused.value.failure.status == 504


async def test_result_is_every_event_or_the_failure(running: asyncio.Task[None]) -> None:
    state = Values({"messages": ["hi"]})
    done = Turn(running, _queued(Accepted(), state, _token("hi"), Reply("m1")), "run-1")
    assert (await done.result("continue"))[-2:] == [_token("hi"), Reply("m1")]

    failed = Turn(running, _queued(Accepted(), _token("hi"), Failure(502, "cut off")), "run-1")
    with pytest.raises(TurnRefused, match="cut off"):
        await failed.result("continue")


async def test_the_stream_sends_none_for_each_silence(running: asyncio.Task[None]) -> None:
    queue = _queued(Accepted())
    turn = Turn(running, queue, "run-1")
    stream = turn.events(heartbeat_seconds=0.01)
    assert await anext(stream) == Accepted()
    assert await anext(stream) is None
    queue.put_nowait(Reply("m1"))
    assert [event async for event in stream if event is not None] == [Reply("m1")]


@pytest.mark.parametrize(("on_disconnect", "cancelled"), [("cancel", True), ("continue", False)])
async def test_a_client_that_leaves_early_cancels_the_turn_only_if_asked(
    running: asyncio.Task[None], on_disconnect: str, cancelled: bool
) -> None:
    turn = Turn(running, _queued(Accepted(), _token("Hel")), "run-1")
    with pytest.raises(ConnectionError), turn.followed(on_disconnect):  # type: ignore[arg-type]
        async for event in turn.events():
            if isinstance(event, Token):
                raise ConnectionError("the client went away")
    await asyncio.sleep(0)
    assert running.cancelled() is cancelled


async def test_a_client_that_stays_to_the_end_never_cancels(running: asyncio.Task[None]) -> None:
    turn = Turn(running, _queued(Accepted(), Reply("m1")), "run-1")
    with turn.followed("cancel"):
        assert [e async for e in turn.events()][-1] == Reply("m1")
    await asyncio.sleep(0)
    assert not running.cancelled()


async def test_queued_returns_while_the_turn_waits_in_line_and_accepted_does_not(
    running: asyncio.Task[None],
) -> None:
    turn = Turn(running, _queued(Queued()), "run-1")
    await turn.queued()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await turn.accepted()


async def test_queued_raises_for_a_turn_refused_before_it_waited(
    running: asyncio.Task[None],
) -> None:
    turn = Turn(running, _queued(Failure(404, "no such session")), "run-1")
    with pytest.raises(TurnRefused):
        await turn.queued()
