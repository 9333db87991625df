"""@langchain/react 1.1.0's useStream (the thread-centric protocol) in Chromium: a page bundled
from npm sends messages and shows the replies as they are written, after a reload mid-reply,
and in a second tab open on the same thread; against this server and `langgraph dev`."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, expect

from devtools.openai_stub import StubBehaviour
from tests.langgraph.conftest import bundled_page

BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"
QUESTION = "What's my name again?"
ANSWER = "Your name is Bob."
# Long enough a reply (13 tokens) to reload the page, or open another, while it is written.
TOKEN_SECONDS = 0.3


@pytest.fixture(scope="session")
def page_html(node_stream_sdk: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    return bundled_page(node_stream_sdk, "use_stream_page.jsx", tmp_path_factory.mktemp("page"))


@pytest.fixture
def ui_server(request: pytest.FixtureRequest, stub_behaviour: StubBehaviour) -> str:
    stub_behaviour.token_delay = TOKEN_SECONDS
    url: str = request.getfixturevalue(request.param)
    return url


BOTH = pytest.mark.parametrize(
    "ui_server",
    ["page_app_url", "langgraph_dev"],
    ids=["this server", "langgraph dev"],
    indirect=True,
)


async def _send(tab: Page, text: str) -> None:
    await tab.locator(".input").fill(text)
    await tab.get_by_role("button", name="Send").click()


async def _writing(tab: Page, reply: str) -> None:
    """Waits until the page shows part of `reply` as the last message: written, not whole."""
    await tab.wait_for_function(
        """reply => {
            const shown = [...document.querySelectorAll(".message.ai .text")].at(-1)?.textContent;
            return Boolean(shown) && shown !== reply && reply.startsWith(shown);
        }""",
        arg=reply,
    )


async def _shows(tab: Page, texts: list[str]) -> None:
    await expect(tab.locator(".message .text")).to_have_text(texts)
    await expect(tab.locator("main")).to_have_attribute("data-loading", "no")
    await expect(tab.locator(".error")).to_have_count(0)


@BOTH
async def test_the_page_shows_each_reply_as_it_is_written(
    browser: BrowserContext, page_origin: str, ui_server: str
) -> None:
    tab = await browser.new_page()
    await tab.goto(f"{page_origin}/?apiUrl={ui_server}")
    await _send(tab, BOB)
    await _writing(tab, HELLO_BOB)
    await _shows(tab, [BOB, HELLO_BOB])
    await _send(tab, QUESTION)
    await _writing(tab, ANSWER)
    await _shows(tab, [BOB, HELLO_BOB, QUESTION, ANSWER])

    # Reloaded once the turns are over: the thread as the server keeps it.
    await tab.reload()
    await _shows(tab, [BOB, HELLO_BOB, QUESTION, ANSWER])


@BOTH
async def test_a_reply_goes_on_after_a_reload_mid_reply(
    browser: BrowserContext, page_origin: str, ui_server: str
) -> None:
    """langgraph dev: the reloaded page reads the thread's state (the message, `next:
    ["model"]`), opens the thread's stream, which replays the run so far, and shows the reply go
    on to its end. This server: see NOT_ACTIVE_WHILE_A_TURN_RUNS."""
    tab = await browser.new_page()
    await tab.goto(f"{page_origin}/?apiUrl={ui_server}")
    await _send(tab, BOB)
    await _writing(tab, HELLO_BOB)
    await tab.reload()
    await _writing(tab, HELLO_BOB)
    await _shows(tab, [BOB, HELLO_BOB])


@BOTH
async def test_a_second_tab_watches_the_replies_being_written(
    browser: BrowserContext, page_origin: str, ui_server: str
) -> None:
    """A tab opened on the thread (its address) while a reply is written shows it being written,
    and then the next turn sent from the first tab."""
    first = await browser.new_page()
    await first.goto(f"{page_origin}/?apiUrl={ui_server}")
    await _send(first, BOB)
    await _writing(first, HELLO_BOB)
    assert "threadId=" in first.url

    second = await browser.new_page()
    await second.goto(first.url)
    await _writing(second, HELLO_BOB)
    await _shows(second, [BOB, HELLO_BOB])

    await _send(first, QUESTION)
    await _writing(second, ANSWER)
    for tab in (first, second):
        await _shows(tab, [BOB, HELLO_BOB, QUESTION, ANSWER])
