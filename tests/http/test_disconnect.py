"""A client that goes away mid-reply: the turn is finished and saved, or (ON_DISCONNECT=cancel)
stopped and forgotten."""

from __future__ import annotations

import asyncio

import httpx

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import eventually, new_session, parse_sse, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import stored_turns


async def _read_first_token_and_hang_up(http: httpx.AsyncClient, session_id: str) -> None:
    async with http.stream(
        "POST",
        f"/chat/{session_id}",
        content="one two three",
        headers={"Accept": "text/event-stream"},
    ) as response:
        first = await asyncio.wait_for(anext(response.aiter_text()), timeout=10)
        assert parse_sse(first) == [("token", {"content": "You"})]


async def test_by_default_the_turn_is_finished_and_saved(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    fake_model.gate = asyncio.Event()
    session_id = await new_session(client)

    await _read_first_token_and_hang_up(client, session_id)
    fake_model.gate.set()

    async def saved() -> bool:
        return len(await stored_turns(database_url, session_id)) == 2

    await eventually(saved)
    assert await stored_turns(database_url, session_id) == [
        ("human", "one two three"),
        ("ai", "You said: one two three"),
    ]
    assert fake_model.cancelled == 0
    assert await say(client, session_id, "next") == "You said: next\n"


async def test_with_cancel_the_model_stops_and_nothing_remains(
    settings: Settings, database_url: str
) -> None:
    model = FakeChatModel(gate=asyncio.Event())  # never opened: only a cancel ends the call
    app = create_app(settings.model_copy(update={"on_disconnect": "cancel"}), chat_model=model)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        session_id = await new_session(http)

        await _read_first_token_and_hang_up(http, session_id)

        async def model_stopped() -> bool:
            return model.cancelled == 1

        await eventually(model_stopped)
        model.gate = None
        # The next turn runs (the session's lock was released) and sees no trace of the last.
        assert await say(http, session_id, "again") == "You said: again\n"
        assert [m.text for m in model.calls[-1]] == ["again"]
    assert await stored_turns(database_url, session_id) == [
        ("human", "again"),
        ("ai", "You said: again"),
    ]
