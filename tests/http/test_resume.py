"""A /chat reply outlives its request: GET /chat/{id}/stream gives the reply being written,
from its start or after the Last-Event-ID a client had, from any replica, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import httpx
import pytest

from api.main import create_app
from api.settings import Settings
from devtools.replies import reply_to
from tests.support.chat_client import eventually, new_session, parse_sse
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve

BOB = "Hi, my name is Bob!"
SSE = {"Accept": "text/event-stream"}


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
    """Each SSE event of the response as (event, id, data), as it comes."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            [(event, data)] = parse_sse(f"event: {fields['event']}\ndata: {fields['data']}\n\n")
            yield event, fields.get("id", ""), {k: str(v) for k, v in data.items()}
            fields = {}


async def _rest(http: httpx.AsyncClient, session: str, **headers: str) -> list[tuple[str, str]]:
    async with http.stream("GET", f"/chat/{session}/stream", headers=SSE | headers) as response:
        assert response.status_code == 200, await response.aread()
        return [
            (event, data.get("content", data.get("message_id", "")))
            async for event, _, data in _events(response)
        ]


async def _until_running(http: httpx.AsyncClient, session: str) -> None:
    async def running() -> bool:
        runs = (await http.get(f"/threads/{session}/runs")).json()
        return bool(runs) and runs[0]["status"] == "running"

    await eventually(running)


@pytest.fixture
def gated() -> FakeChatModel:
    """A model that stops after its first token until the test lets it go on."""
    return FakeChatModel(gate=asyncio.Event())


@pytest.fixture
async def http(settings: Settings, gated: FakeChatModel) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a server whose model is `gated`."""
    async with (
        serve(create_app(settings, chat_model=gated)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


async def test_a_client_that_lost_its_connection_gets_the_rest_exactly_once(
    http: httpx.AsyncClient, gated: FakeChatModel
) -> None:
    session = await new_session(http)
    async with http.stream("POST", f"/chat/{session}", content=BOB, headers=SSE) as live:
        event, last_id, data = await anext(_events(live))
    # The connection is gone after one token; the turn runs on, and is let go on now.
    [run] = (await http.get(f"/threads/{session}/runs")).json()
    assert event == "token" and last_id.startswith(f"{run['run_id']}/")
    assert live.headers["content-location"] == f"/threads/{session}/runs/{run['run_id']}"
    assert gated.gate is not None
    gated.gate.set()
    rest = await _rest(http, session, **{"Last-Event-ID": last_id})

    text = data["content"] + "".join(content for event, content in rest if event == "token")
    assert text == reply_to([BOB])
    assert [event for event, _ in rest][-1] == "end"
    saved = (await http.get(f"/chat/{session}")).json()
    assert rest[-1][1] == saved[-1]["id"]


async def test_without_last_event_id_the_reply_being_written_from_its_start(
    settings: Settings, gated: FakeChatModel
) -> None:
    async with (
        serve(create_app(settings, chat_model=gated)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        session = await new_session(http)
        assert (await http.get(f"/chat/{session}/stream")).status_code == 204  # nothing runs
        sending = asyncio.create_task(http.post(f"/chat/{session}", content=BOB))
        await _until_running(http, session)
        # A second tab (or the page after a reload) opens while the reply is being written.
        async with http.stream("GET", f"/chat/{session}/stream", headers=SSE) as watching:
            assert watching.status_code == 200
            events = _events(watching)
            assert (await anext(events))[0::2] == ("message", {"role": "user", "content": BOB})
            event, _, first = await anext(events)
            assert event == "token"
            assert gated.gate is not None
            gated.gate.set()
            rest = [(event, data) async for event, _, data in events]
        reply = (await sending).text

    tokens = [first["content"]] + [data["content"] for event, data in rest if event == "token"]
    assert "".join(tokens) + "\n" == reply == reply_to([BOB]) + "\n"
    assert rest[-1][0] == "end"


async def test_a_reply_resumes_through_another_replica(settings: Settings) -> None:
    model = FakeChatModel(gate=asyncio.Event())
    async with (
        serve(create_app(settings, chat_model=model)) as url_a,
        serve(create_app(settings, chat_model=FakeChatModel())) as url_b,
        httpx.AsyncClient(base_url=url_a, timeout=30) as a,
        httpx.AsyncClient(base_url=url_b, timeout=30) as b,
    ):
        session = await new_session(a)
        async with a.stream("POST", f"/chat/{session}", content=BOB, headers=SSE) as live:
            _, last_id, first = await anext(_events(live))
        assert model.gate is not None
        model.gate.set()
        rest = await _rest(b, session, **{"Last-Event-ID": last_id})

    text = first["content"] + "".join(content for event, content in rest if event == "token")
    assert text == reply_to([BOB])
    assert rest[-1][0] == "end"


async def test_plain_text_gives_the_reply_being_written(
    settings: Settings, gated: FakeChatModel
) -> None:
    async with (
        serve(create_app(settings, chat_model=gated)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        session = await new_session(http)
        sending = asyncio.create_task(http.post(f"/chat/{session}", content=BOB))
        await _until_running(http, session)
        async with http.stream("GET", f"/chat/{session}/stream") as watching:
            chunks = watching.aiter_text()
            first = await anext(chunks)
            assert gated.gate is not None
            gated.gate.set()
            text = first + "".join([chunk async for chunk in chunks])
        await sending
    assert text == reply_to([BOB]) + "\n"


async def test_a_malformed_or_foreign_last_event_id_is_refused(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    malformed = await client.get(
        f"/chat/{session}/stream", headers=SSE | {"Last-Event-ID": "not an id"}
    )
    assert malformed.status_code == 422
    assert "Last-Event-ID" in malformed.json()["detail"]
    unknown = await client.get(f"/chat/{uuid4()}/stream", headers=SSE)
    assert unknown.status_code == 404
