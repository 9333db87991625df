"""The real ChatOpenAI client, over HTTP, against the local OpenAI-compatible stub."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.main import create_app
from api.settings import Settings
from devtools.openai_stub import StubBehaviour
from tests.support.attachments import (
    PDF_BASE64,
    PNG_BASE64,
    chat_ui_image,
    chat_ui_pdf,
    run_with,
    user_message,
    v0_pdf,
)
from tests.support.chat_client import new_session, parse_sse, say
from tests.support.servers import serve


async def test_seed_demo_through_an_openai_compatible_server(
    settings: Settings, openai_stub_url: str, stub_behaviour: StubBehaviour
) -> None:
    settings = settings.model_copy(update={"openai_base_url": openai_stub_url})
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        bob = await new_session(http)
        greeting = await say(http, bob, "Hi, my name is Bob!")
        assert greeting == "Hello Bob! It's nice to meet you. How can I help you today?\n"
        matt = await new_session(http)
        await say(http, matt, "Hi, my name is Matt!")
        assert await say(http, bob, "What's my name again?") == "Your name is Bob.\n"
        assert await say(http, matt, "What's my name again?") == "Your name is Matt.\n"

    # The model saw each session's own history, replies included, and streamed it.
    last_bob_request = stub_behaviour.requests[2]
    assert last_bob_request["stream"] is True
    assert last_bob_request["model"] == settings.openai_model
    assert [(m["role"], m["content"]) for m in last_bob_request["messages"]] == [
        ("user", "Hi, my name is Bob!"),
        ("assistant", "Hello Bob! It's nice to meet you. How can I help you today?"),
        ("user", "What's my name again?"),
    ]


async def test_system_prompt_goes_first(
    settings: Settings, openai_stub_url: str, stub_behaviour: StubBehaviour
) -> None:
    settings = settings.model_copy(
        update={"openai_base_url": openai_stub_url, "system_prompt": "Be brief."}
    )
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        session_id = await new_session(http)
        response = await http.post(
            f"/chat/{session_id}", content="hello", headers={"Accept": "text/event-stream"}
        )
    tokens = [data["content"] for name, data in parse_sse(response.text) if name == "token"]
    assert tokens == ["You", " said:", " hello"]
    assert stub_behaviour.requests[0]["messages"][0] == {"role": "system", "content": "Be brief."}


async def _requests_and_replies(
    settings: Settings, stub: StubBehaviour
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The requests the model server received, and the replies as the session keeps them."""
    stub.requests.clear()
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        session_id = await new_session(http)
        await say(http, session_id, "Hi, my name is Bob!\nTabs\tand ünïcode 🙂")
        blocks = [{"type": "text", "text": "What's "}, {"type": "text", "text": "my name?"}]
        run = {
            "assistant_id": "chat",
            "input": {"messages": [{"type": "human", "content": blocks}]},
        }
        assert (await http.post(f"/threads/{session_id}/runs/wait", json=run)).status_code == 200
        state = (await http.get(f"/threads/{session_id}/state")).json()
    replies = [
        {k: m[k] for k in ("content", "response_metadata", "usage_metadata")}
        for m in state["values"]["messages"]
        if m["type"] == "ai"
    ]
    return list(stub.requests), replies


async def test_untransformed_messages_send_the_same_request(
    settings: Settings, openai_stub_url: str, stub_behaviour: StubBehaviour
) -> None:
    # Fails loudly if an upgrade of openai or langchain-openai makes graph/untransformed.py send
    # or read something else than the SDK's own path would.
    base = settings.model_copy(
        update={"openai_base_url": openai_stub_url, "system_prompt": "Be brief."}
    )
    untransformed, plain_replies = await _requests_and_replies(base, stub_behaviour)
    transformed, replies = await _requests_and_replies(
        base.model_copy(update={"openai_untransformed_messages": False}), stub_behaviour
    )
    assert len(untransformed) == 2
    assert untransformed == transformed
    assert len(plain_replies) == 2
    assert plain_replies == replies
    assert untransformed[1]["messages"][-1] == {
        "role": "user",
        "content": [{"type": "text", "text": "What's "}, {"type": "text", "text": "my name?"}],
    }


@pytest.mark.parametrize("untransformed", [True, False], ids=["untransformed", "sdk"])
async def test_images_and_files_reach_the_model_as_openai_parts(
    settings: Settings, openai_stub_url: str, stub_behaviour: StubBehaviour, untransformed: bool
) -> None:
    settings = settings.model_copy(
        update={"openai_base_url": openai_stub_url, "openai_untransformed_messages": untransformed}
    )
    # Agent Chat UI's blocks today, its PDF as it sent it before @langchain/core 1.0, and an
    # image_url given as a bare string: each would reach the model server as it came, or
    # without its file name, but for graph/attachments.py.
    message = user_message(
        chat_ui_image(),
        chat_ui_pdf(),
        v0_pdf(filename="old.pdf"),
        {"type": "image_url", "image_url": f"data:image/png;base64,{PNG_BASE64}"},
    )
    async with (
        serve(create_app(settings)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        session_id = await new_session(http)
        response = await http.post(f"/threads/{session_id}/runs/wait", json=run_with(message))
        assert response.status_code == 200, response.text
        assert await say(http, session_id, "Thanks!") == "You said: Thanks!\n"

    png = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}}

    def pdf(filename: str) -> dict[str, Any]:
        data = f"data:application/pdf;base64,{PDF_BASE64}"
        return {"type": "file", "file": {"file_data": data, "filename": filename}}

    sent = {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            png,
            pdf("report.pdf"),
            pdf("old.pdf"),
            png,
        ],
    }
    first, second = stub_behaviour.requests
    assert first["messages"] == [sent]
    # The conversation goes to the model whole each turn, its attachments with it.
    assert second["messages"] == [
        sent,
        {"role": "assistant", "content": "You said: What is this?"},
        {"role": "user", "content": "Thanks!"},
    ]
