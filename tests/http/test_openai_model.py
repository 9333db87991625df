"""The real ChatOpenAI client, over HTTP, against the local OpenAI-compatible stub."""

from __future__ import annotations

import httpx

from api.main import create_app
from api.settings import Settings
from devtools.openai_stub import StubBehaviour
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
