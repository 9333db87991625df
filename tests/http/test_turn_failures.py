"""Model failures, against the real ChatOpenAI client and the stub made to fail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest

from api.main import create_app
from api.settings import Settings
from devtools.openai_stub import StubBehaviour
from tests.support.chat_client import new_session, parse_sse, say
from tests.support.servers import serve
from tests.support.stored import checkpoint_rows, stored_turns


@pytest.fixture
async def http(openai_app_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=openai_app_url, timeout=30) as client:
        yield client


async def _first_turn_then(http: httpx.AsyncClient) -> str:
    session_id = await new_session(http)
    await say(http, session_id, "Hi, my name is Bob!")
    return session_id


async def _retry_is_not_duplicated(
    http: httpx.AsyncClient, session_id: str, stub: StubBehaviour, database_url: str
) -> None:
    stub.fail_status, stub.stall_seconds, stub.cut_after_tokens = None, 0.0, None
    assert await say(http, session_id, "What's my name again?") == "Your name is Bob.\n"
    sent = [(m["role"], m["content"]) for m in stub.requests[-1]["messages"]]
    assert sent == [
        ("user", "Hi, my name is Bob!"),
        ("assistant", "Hello Bob! It's nice to meet you. How can I help you today?"),
        ("user", "What's my name again?"),
    ]
    assert len(await stored_turns(database_url, session_id)) == 4


# A model that fails before its first token: an honest status code, and the session unchanged.
BEFORE_THE_FIRST_TOKEN = [
    pytest.param({"fail_status": 500}, "*/*", 502, "the model server answered HTTP 500", id="502"),
    pytest.param(
        {"fail_status": 500},
        "text/event-stream",
        502,
        "the model server answered HTTP 500",
        id="502-sse",
    ),
    pytest.param({"stall_seconds": 5.0}, "*/*", 504, "the model did not answer in time", id="504"),
    # The model's first chunk, with its role and no text, is no token: the reply had not begun.
    pytest.param(
        {"cut_after_tokens": 0},
        "text/event-stream",
        502,
        "the connection to the model server failed",
        id="502-after-the-role-chunk",
    ),
]


@pytest.mark.parametrize(("failure", "accept", "status", "detail"), BEFORE_THE_FIRST_TOKEN)
async def test_failure_before_the_first_token_is_a_status_code_and_changes_nothing(
    http: httpx.AsyncClient,
    stub_behaviour: StubBehaviour,
    database_url: str,
    failure: dict[str, float],
    accept: str,
    status: int,
    detail: str,
) -> None:
    session_id = await _first_turn_then(http)
    before = await stored_turns(database_url, session_id)
    for name, value in failure.items():
        setattr(stub_behaviour, name, value)

    response = await http.post(
        f"/chat/{session_id}", content="What's my name again?", headers={"Accept": accept}
    )

    assert response.status_code == status
    assert response.json() == {"detail": detail}
    assert await stored_turns(database_url, session_id) == before
    await _retry_is_not_duplicated(http, session_id, stub_behaviour, database_url)


async def test_failure_midway_ends_the_event_stream_with_an_error_and_saves_nothing(
    http: httpx.AsyncClient, stub_behaviour: StubBehaviour, database_url: str
) -> None:
    session_id = await _first_turn_then(http)
    before = await stored_turns(database_url, session_id)
    rows_before = checkpoint_rows(database_url, session_id)
    stub_behaviour.reply = "one two three four five"
    stub_behaviour.cut_after_tokens = 2

    response = await http.post(
        f"/chat/{session_id}", content="count to five", headers={"Accept": "text/event-stream"}
    )

    assert response.status_code == 200
    events = parse_sse(response.text)
    assert events[:2] == [("token", {"content": "one"}), ("token", {"content": " two"})]
    assert events[2:] == [("error", {"message": "the connection to the model server failed"})]
    assert await stored_turns(database_url, session_id) == before
    # Not taken back afterwards but never written: no row of the failed turn, its text included.
    assert checkpoint_rows(database_url, session_id) == rows_before
    assert not _stored_anywhere(database_url, session_id, "count to five")
    stub_behaviour.reply = None
    await _retry_is_not_duplicated(http, session_id, stub_behaviour, database_url)


async def test_failure_midway_ends_plain_text_with_a_cut_off_line(
    http: httpx.AsyncClient, stub_behaviour: StubBehaviour, database_url: str
) -> None:
    session_id = await _first_turn_then(http)
    stub_behaviour.reply = "one two three four five"
    stub_behaviour.cut_after_tokens = 3

    response = await http.post(f"/chat/{session_id}", content="count to five")

    assert response.text == (
        "one two three\n[error: the reply was cut off: the connection to the model server failed]\n"
    )
    assert len(await stored_turns(database_url, session_id)) == 2


async def test_retries_are_a_setting(
    settings: Settings, openai_stub_url: str, stub_behaviour: StubBehaviour
) -> None:
    settings = settings.model_copy(
        update={"openai_base_url": openai_stub_url, "model_max_retries": 2}
    )
    stub_behaviour.fail_status = 503
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        session_id = await new_session(client)
        response = await client.post(f"/chat/{session_id}", content="hello")
    assert response.status_code == 502
    assert len(stub_behaviour.requests) == 3


def _stored_anywhere(database_url: str, session_id: str, text: str) -> bool:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM checkpoint_writes WHERE thread_id = %(t)s"
            " AND position(%(x)s::bytea in blob) > 0)"
            " OR EXISTS (SELECT 1 FROM checkpoint_blobs WHERE thread_id = %(t)s"
            " AND position(%(x)s::bytea in blob) > 0)"
            " OR EXISTS (SELECT 1 FROM checkpoints WHERE thread_id = %(t)s"
            " AND position(%(x)s::bytea in convert_to(checkpoint::text, 'UTF8')) > 0)",
            {"t": session_id, "x": text.encode()},
        ).fetchone()
    return bool(row and row[0])
