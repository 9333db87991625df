"""The chat page goes on with a reply being written: after a reload, on another page, and when
the connection of its own reply breaks; Stop cancels a reply it went on with."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from itertools import pairwise
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Page, Request, expect

from tests.http.conftest import PageProblems
from tests.http.test_page import (
    BOB,
    HELLO_BOB,
    RECORD_REPLY_GROWTH,
    last_reply,
    message_box,
    say,
    session_in_url,
    session_link,
    texts,
    user_message,
    versions,
)
from tests.support.chat_client import eventually
from tests.support.fakes import FakeChatModel

# One event of an event stream, whole: its lines, then a blank line.
_TOKEN_EVENT = re.compile(rb"event: token\r?\n(?:[^\r\n]+\r?\n)*\r?\n")


@pytest.fixture
def gate(client: httpx.AsyncClient, fake_model: FakeChatModel) -> Iterator[asyncio.Event]:
    """The model of `client` stops after its first token until the test sets this; it is set
    at the end, so that the server does not wait on it to stop."""
    fake_model.gate = asyncio.Event()
    fake_model.delay = 0.02
    yield fake_model.gate
    fake_model.gate.set()


async def reply_begun(page: Page, url: str) -> str:
    """Opens the page at `url` and sends BOB; returns once the reply's first token shows (the
    gated model waits after it), with the session's id."""
    await page.goto(url)
    await say(page, BOB)
    await expect(last_reply(page).locator(".text")).to_have_text("Hello")
    return session_in_url(page)


async def growth(page: Page) -> list[str]:
    """What the last reply showed, in order, since RECORD_REPLY_GROWTH: each text the one before
    and more, never a token twice."""
    shown: list[str] = await page.evaluate("window.replyGrowth")
    assert all(later.startswith(earlier) for earlier, later in pairwise(shown)), shown
    return shown


async def test_a_reply_goes_on_after_a_reload(
    page: Page, client: httpx.AsyncClient, gate: asyncio.Event
) -> None:
    await reply_begun(page, str(client.base_url))
    await page.reload()
    await expect(texts(page)).to_have_text([BOB, "Hello"])
    await expect(last_reply(page)).to_have_attribute("data-state", "streaming")
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    await page.evaluate(RECORD_REPLY_GROWTH)
    gate.set()
    await expect(texts(page)).to_have_text([BOB, HELLO_BOB])
    await expect(last_reply(page)).to_have_attribute("data-state", "done")
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    assert (await growth(page))[-1] == HELLO_BOB
    # Settled as any reply: the next one can be asked for, and the reply is kept.
    await expect(last_reply(page).get_by_role("button", name="Regenerate")).to_be_visible()
    await expect(page.get_by_role("heading", name=BOB)).to_be_visible()
    await page.reload()
    await expect(texts(page)).to_have_text([BOB, HELLO_BOB])


async def test_another_page_opened_on_the_session_sees_the_reply_go_on(
    page: Page, client: httpx.AsyncClient, gate: asyncio.Event, page_problems: PageProblems
) -> None:
    session_id = await reply_begun(page, str(client.base_url))

    # A second tab, which opens the session from its list.
    other = page_problems.watch(await page.context.new_page())
    await other.goto(str(client.base_url))
    await session_link(other, session_id).click()
    await expect(texts(other)).to_have_text([BOB, "Hello"])
    await expect(other.get_by_role("button", name="Stop")).to_be_visible()
    gate.set()
    for shown in (page, other):
        await expect(texts(shown)).to_have_text([BOB, HELLO_BOB])
        await expect(last_reply(shown)).to_have_attribute("data-state", "done")
        await expect(last_reply(shown).get_by_role("button", name="Regenerate")).to_be_visible()
    await expect(other.get_by_role("button", name="Send")).to_be_enabled()


async def test_a_regenerated_reply_goes_on_after_a_reload_in_place_of_the_old(
    page: Page, client: httpx.AsyncClient, gate: asyncio.Event
) -> None:
    gate.set()
    await page.goto(str(client.base_url))
    await say(page, "Hi")
    await expect(last_reply(page)).to_have_attribute("data-state", "done")
    gate.clear()

    await last_reply(page).get_by_role("button", name="Regenerate").click()
    await expect(last_reply(page).locator(".text")).to_have_text("You")
    await page.reload()
    await expect(texts(page)).to_have_text(["Hi", "You"])
    gate.set()
    await expect(texts(page)).to_have_text(["Hi", "You said: Hi"])
    await expect(versions(last_reply(page))).to_contain_text("2 / 2")


class ConnectionCutter:
    """A TCP proxy to a server that breaks the connection of the first POST /chat/{id} reply
    once its first token is through, when more of it comes, as a network drop would; with
    `server_gone`, it refuses every connection from then on, as if the server had gone."""

    def __init__(self, target: str, *, server_gone: bool = False) -> None:
        self.target = urlsplit(target)
        self.server_gone = server_gone
        self.cut = False
        self._pipes: set[asyncio.Task[None]] = set()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        """Yields the proxy's base URL."""
        server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
            for pipe in self._pipes:
                pipe.cancel()
            await asyncio.gather(*self._pipes, return_exceptions=True)
            await server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut and self.server_gone:
            writer.transport.abort()
            return
        assert self.target.hostname and self.target.port
        upstream = await asyncio.open_connection(self.target.hostname, self.target.port)
        posted = asyncio.Event()
        pipes = [
            asyncio.create_task(self._requests(reader, upstream[1], posted)),
            asyncio.create_task(self._responses(upstream[0], writer, posted)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            writer.transport.abort()
            upstream[1].transport.abort()
            self._pipes.difference_update(pipes)

    async def _requests(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, posted: asyncio.Event
    ) -> None:
        while data := await reader.read(65536):
            if not self.cut and re.search(rb"^POST /chat/[^/ ]+ ", data, re.MULTILINE):
                posted.set()
            writer.write(data)
            await writer.drain()

    async def _responses(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, posted: asyncio.Event
    ) -> None:
        seen = b""
        while data := await reader.read(65536):
            if posted.is_set() and not self.cut:
                if _TOKEN_EVENT.search(seen):
                    self.cut = True
                    if self.server_gone:
                        for pipe in self._pipes - {asyncio.current_task()}:
                            pipe.cancel()
                    return
                seen += data
            writer.write(data)
            await writer.drain()


async def test_a_reply_whose_connection_breaks_goes_on_where_it_broke(
    page: Page, client: httpx.AsyncClient, gate: asyncio.Event, page_problems: PageProblems
) -> None:
    page_problems.allow("ERR_INCOMPLETE_CHUNKED_ENCODING")
    resumed_after: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/stream") and "last-event-id" in request.headers:
            resumed_after.append(request.headers["last-event-id"])

    page.on("request", on_request)
    cutter = ConnectionCutter(str(client.base_url))
    async with cutter.serving() as url:
        session_id = await reply_begun(page, url)
        await page.evaluate(RECORD_REPLY_GROWTH)
        gate.set()
        await expect(texts(page)).to_have_text([BOB, HELLO_BOB])
        await expect(last_reply(page)).to_have_attribute("data-state", "done")
        await expect(page.get_by_role("alert")).to_be_hidden()
        assert (await growth(page))[-1] == HELLO_BOB
    assert cutter.cut
    [run] = (await client.get(f"/threads/{session_id}/runs")).json()
    [last_event_id] = resumed_after
    assert last_event_id.startswith(f"{run['run_id']}/")


async def test_a_reply_whose_server_is_gone_is_explained(
    page: Page, client: httpx.AsyncClient, gate: asyncio.Event, page_problems: PageProblems
) -> None:
    page_problems.allow(r"Failed to load resource: net::ERR_\w+")
    cutter = ConnectionCutter(str(client.base_url), server_gone=True)
    async with cutter.serving() as url:
        await reply_begun(page, url)
        gate.set()
        await expect(page.get_by_role("alert")).to_contain_text(
            "The connection to the server was lost while the reply was arriving"
        )
        await expect(last_reply(page)).to_have_attribute("data-state", "failed")
        await expect(last_reply(page).locator(".text")).to_have_text("Hello")
        await expect(message_box(page)).to_have_value(BOB)
        await expect(page.get_by_role("button", name="Send")).to_be_enabled()


@pytest.mark.parametrize("reloaded", [False, True], ids=["live", "after-a-reload"])
async def test_stop_cancels_the_reply_and_nothing_of_it_is_kept(
    page: Page, client: httpx.AsyncClient, gate: asyncio.Event, reloaded: bool
) -> None:
    session_id = await reply_begun(page, str(client.base_url))
    if reloaded:
        await page.reload()
        await expect(texts(page)).to_have_text([BOB, "Hello"])

    await page.get_by_role("button", name="Stop").click()
    await expect(last_reply(page)).to_have_attribute("data-state", "stopped")
    await expect(page.get_by_role("status")).to_have_text("Reply stopped. Nothing of it was kept.")
    await expect(user_message(page, BOB).locator(".note")).to_have_text("Not saved.")
    await expect(page.get_by_role("button", name="Send")).to_be_enabled()

    async def ended() -> bool:
        runs = (await client.get(f"/threads/{session_id}/runs")).json()
        return [run["status"] for run in runs] == ["interrupted"]

    await eventually(ended)
    await page.reload()
    await expect(page.get_by_role("heading", name=f"Session {session_id[:8]}")).to_be_visible()
    await expect(texts(page)).to_have_count(0)
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    assert (await client.get(f"/chat/{session_id}")).json() == []
