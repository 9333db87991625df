from __future__ import annotations

import asyncio

import httpx

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import new_session, parse_sse
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve


async def test_a_quiet_model_gets_heartbeat_comments_on_the_event_stream(
    settings: Settings,
) -> None:
    model = FakeChatModel(gate=asyncio.Event())
    app = create_app(settings.model_copy(update={"heartbeat_seconds": 0.05}), chat_model=model)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        session_id = await new_session(http)
        async with http.stream(
            "POST", f"/chat/{session_id}", content="a b", headers={"Accept": "text/event-stream"}
        ) as response:
            chunks = response.aiter_text()
            assert parse_sse(await anext(chunks)) == [("token", {"content": "You"})]
            # The model says nothing until the gate opens: the stream must keep talking.
            assert await asyncio.wait_for(anext(chunks), timeout=10) == ": ping\n\n"
            model.gate.set()
            rest = "".join([chunk async for chunk in chunks])
    events = parse_sse(rest)
    assert events[-1][0] == "end"
    assert "".join(str(data["content"]) for name, data in events if name == "token") == (
        " said: a b"
    )
