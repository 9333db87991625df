"""A run whose input the graph cannot take is refused before it starts, and stores nothing."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import httpx
import pytest

from tests.support.chat_client import new_session, say
from tests.support.stored import CHECKPOINT_TABLES, checkpoint_rows, stored_turns


def _run(text: Any) -> dict[str, Any]:
    content = [{"type": "text", "text": "Hello "}, {"type": "text", "text": text}]
    return {"assistant_id": "chat", "input": {"messages": [{"role": "user", "content": content}]}}


@pytest.mark.parametrize(
    ("text", "found"),
    # A number crashed the model node (500); an array was stored, and read back as "".
    [(42, "a number"), (["Bob"], "an array")],
    ids=["number", "array"],
)
async def test_a_text_block_that_is_not_a_string_is_422_and_stores_nothing(
    client: httpx.AsyncClient, database_url: str, text: Any, found: str
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, "Hi, my name is Bob!")
    before = (
        await stored_turns(database_url, session_id),
        checkpoint_rows(database_url, session_id),
    )

    response = await client.post(f"/threads/{session_id}/runs/wait", json=_run(text))

    assert response.status_code == 422
    assert response.json() == {
        "detail": "input.messages.0.content.1.text: a text block's text must be a string, "
        f"not {found}"
    }
    after = (
        await stored_turns(database_url, session_id),
        checkpoint_rows(database_url, session_id),
    )
    assert after == before


async def test_a_refused_run_creates_no_thread(
    client: httpx.AsyncClient, database_url: str
) -> None:
    thread_id = str(uuid4())
    body = {**_run(None), "if_not_exists": "create"}

    response = await client.post(f"/threads/{thread_id}/runs/stream", json=body)

    assert response.status_code == 422
    assert response.json()["detail"].endswith("must be a string, not null")
    assert (await client.get(f"/threads/{thread_id}")).status_code == 404
    assert checkpoint_rows(database_url, thread_id) == dict.fromkeys(CHECKPOINT_TABLES, 0)


async def test_a_message_id_already_in_the_conversation_is_409_and_stores_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, "Hi, my name is Bob!")
    await say(client, session_id, "one two three")
    first = (await client.get(f"/chat/{session_id}")).json()[0]
    before = await stored_turns(database_url, session_id)

    # add_messages would replace the stored message in place: history rewritten by a run.
    rewrite = {"id": first["id"], "role": "user", "content": "Hi, my name is Matt!"}
    run = {"assistant_id": "chat", "input": {"messages": [rewrite]}}
    response = await client.post(f"/threads/{session_id}/runs/wait", json=run)

    assert response.status_code == 409
    assert response.json()["detail"].startswith(f"message id {first['id']} is in the conversation")
    assert await stored_turns(database_url, session_id) == before

    fresh = {**rewrite, "id": str(uuid4())}
    run = {"assistant_id": "chat", "input": {"messages": [fresh]}}
    assert (await client.post(f"/threads/{session_id}/runs/wait", json=run)).status_code == 200
    assert await stored_turns(database_url, session_id) == [
        *before,
        ("human", "Hi, my name is Matt!"),
        ("ai", "Hello Matt! It's nice to meet you. How can I help you today?"),
    ]
