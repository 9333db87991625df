"""A run whose input the graph cannot take is refused before it starts, and stores nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest

from api.main import create_app
from api.settings import Settings
from tests.support.attachments import (
    PDF,
    PNG,
    chat_ui_image,
    chat_ui_pdf,
    image_url,
    run_with,
    user_message,
    v0_pdf,
)
from tests.support.chat_client import new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import CHECKPOINT_TABLES, checkpoint_rows, stored_messages, stored_turns


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


async def test_images_and_files_are_kept_as_they_came(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    message = user_message(chat_ui_image(), chat_ui_pdf(), image_url())
    message["id"] = str(uuid4())

    response = await client.post(f"/threads/{session_id}/runs/wait", json=run_with(message))

    assert response.status_code == 200, response.text
    human, ai = response.json()["messages"]
    assert (human["type"], human["id"], human["content"]) == (
        "human",
        message["id"],
        message["content"],
    )
    assert ai["content"] == "You said: What is this?"
    state = (await client.get(f"/threads/{session_id}/state")).json()
    assert state["values"]["messages"][0]["content"] == message["content"]
    [stored, _] = await stored_messages(database_url, session_id)
    assert stored.content == message["content"]
    assert (await client.get(f"/chat/{session_id}")).json()[0] == {
        "id": message["id"],
        "role": "user",
        "content": "What is this?\n[image: dot.png, image/png, 70 B]\n"
        f"[file: report.pdf, application/pdf, {len(PDF)} B]\n[image: image/png, 70 B]",
    }


async def test_a_message_of_attachments_alone_is_a_turn(client: httpx.AsyncClient) -> None:
    session_id = await new_session(client)
    run = run_with(user_message(v0_pdf(), text=None))
    async with client.stream("POST", f"/threads/{session_id}/runs/stream", json=run) as response:
        assert response.status_code == 200
        await response.aread()
    assert [m["content"] for m in (await client.get(f"/chat/{session_id}")).json()] == [
        f"[file: report.pdf, application/pdf, {len(PDF)} B]",
        "You said:",
    ]


_SMALL = {"max_message_bytes": 64, "max_attachment_bytes": len(PNG) * 3 // 2}


@pytest.fixture
async def small_limits_client(
    settings: Settings, fake_model: FakeChatModel
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with MAX_MESSAGE_BYTES=64 and MAX_ATTACHMENT_BYTES a PNG's size and a half."""
    async with (
        serve(create_app(settings.model_copy(update=_SMALL), chat_model=fake_model)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


async def test_attachments_over_max_attachment_bytes_are_413_and_store_nothing(
    small_limits_client: httpx.AsyncClient, database_url: str
) -> None:
    client = small_limits_client
    session_id = await new_session(client)
    within = run_with(user_message(image_url()))
    assert (await client.post(f"/threads/{session_id}/runs/wait", json=within)).status_code == 200
    before = await stored_turns(database_url, session_id)
    limit = _SMALL["max_attachment_bytes"]

    two = run_with(user_message(image_url(), chat_ui_image()))
    response = await client.post(f"/threads/{session_id}/runs/wait", json=two)

    assert response.status_code == 413
    assert response.json() == {
        "detail": f"input.messages.0: its attachments take {2 * len(PNG)} bytes decoded, "
        f"more than the {limit} a message may carry"
    }
    assert await stored_turns(database_url, session_id) == before


async def test_a_body_over_what_a_message_may_carry_is_413_unread(
    small_limits_client: httpx.AsyncClient, database_url: str
) -> None:
    # One message's text as JSON at worst (six bytes a character), its attachments in base64,
    # and a kilobyte of JSON around them.
    body_limit = _SMALL["max_message_bytes"] * 6 + -(-_SMALL["max_attachment_bytes"] // 3) * 4
    body_limit += 1024
    session_id = await new_session(small_limits_client)
    data = base64.b64encode(bytes(body_limit * 3 // 4)).decode()

    response = await small_limits_client.post(
        f"/threads/{session_id}/runs/stream", json=run_with(user_message(chat_ui_pdf(data)))
    )

    assert response.status_code == 413
    assert response.json() == {"detail": f"the body is larger than {body_limit} bytes"}
    assert response.headers["connection"] == "close"
    assert await stored_turns(database_url, session_id) == []


async def test_a_malformed_attachment_is_422_and_stores_nothing(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, "Hi, my name is Bob!")
    before = checkpoint_rows(database_url, session_id)
    not_base64 = {"type": "image_url", "image_url": {"url": "data:image/png,%89PNG"}}

    run = run_with(user_message(chat_ui_pdf(), not_base64))
    response = await client.post(f"/threads/{session_id}/runs/wait", json=run)

    assert response.status_code == 422
    assert response.json() == {
        "detail": "input.messages.0.content.2.image_url.url: a data URL must hold base64: "
        "data:<MIME type>;base64,<data>"
    }
    assert checkpoint_rows(database_url, session_id) == before
