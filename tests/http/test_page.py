"""The chat page in a real Chromium, against a real server: what a person sees and does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from itertools import pairwise
from uuid import UUID

import httpx
import pytest
from langchain_core.messages import BaseMessage
from playwright.async_api import Locator, Page, expect

from api.main import create_app
from api.settings import Settings
from devtools.openai_stub import StubBehaviour
from tests.http.conftest import ARTIFACTS, PageProblems
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve

BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"


def message_box(page: Page) -> Locator:
    return page.get_by_role("textbox", name="Message")


def texts(page: Page) -> Locator:
    return page.get_by_role("log").locator(".message .text")


def last_reply(page: Page) -> Locator:
    return page.get_by_role("log").locator('.message[data-role="assistant"]').last


def session_link(page: Page, session_id: str) -> Locator:
    return page.locator(f'#session-list a[href="#{session_id}"]')


async def say(page: Page, message: str) -> None:
    await message_box(page).fill(message)
    await message_box(page).press("Enter")


async def said(page: Page, message: str, reply: str) -> None:
    """Sends `message` and waits until `reply` is complete."""
    await say(page, message)
    await expect(last_reply(page).locator(".text")).to_have_text(reply)
    await expect(last_reply(page)).to_have_attribute("data-state", "done")


def session_in_url(page: Page) -> str:
    return str(UUID(page.url.partition("#")[2]))


# Every text the last reply shows, in order, as it streams in.
RECORD_REPLY_GROWTH = """() => {
    window.replyGrowth = [];
    const log = document.getElementById("conversation");
    new MutationObserver(() => {
        const replies = log.querySelectorAll('.message[data-role="assistant"] .text');
        const text = replies.length ? replies[replies.length - 1].textContent : "";
        if (text && text !== window.replyGrowth.at(-1)) window.replyGrowth.push(text);
    }).observe(log, { childList: true, subtree: true, characterData: true });
}"""


async def test_a_reply_streams_in_and_the_conversation_survives_a_reload(
    page: Page, client: httpx.AsyncClient, fake_model: FakeChatModel
) -> None:
    fake_model.delay = 0.05
    await page.goto(str(client.base_url))
    await expect(page.get_by_role("log")).to_have_attribute("aria-live", "polite")
    await page.evaluate(RECORD_REPLY_GROWTH)

    await say(page, BOB)
    await expect(page.get_by_role("button", name="Stop")).to_be_visible()
    await expect(last_reply(page).locator(".text")).to_have_text(HELLO_BOB)
    await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    growth: list[str] = await page.evaluate("window.replyGrowth")
    assert len(growth) >= 3, growth
    assert all(later.startswith(earlier) for earlier, later in pairwise(growth))
    assert growth[-1] == HELLO_BOB
    assert await message_box(page).input_value() == ""

    session_id = session_in_url(page)
    await expect(session_link(page, session_id)).to_contain_text(BOB)
    await expect(session_link(page, session_id)).to_have_attribute("aria-current", "page")

    await page.reload()
    await expect(texts(page)).to_have_text([BOB, HELLO_BOB])
    await expect(page.get_by_role("heading", name=BOB)).to_be_visible()

    await message_box(page).fill("What's my name again?")
    await page.get_by_role("button", name="Send").click()
    await expect(texts(page)).to_have_text(
        [BOB, HELLO_BOB, "What's my name again?", "Your name is Bob."]
    )
    await expect(last_reply(page)).to_have_attribute("data-state", "done")
    assert session_in_url(page) == session_id
    await page.screenshot(path=ARTIFACTS / "chat-page.png")


async def test_sessions_are_listed_newest_first_reopened_and_deleted(
    page: Page, client: httpx.AsyncClient
) -> None:
    await page.goto(str(client.base_url))
    await said(page, BOB, HELLO_BOB)
    first = session_in_url(page)

    await page.get_by_role("button", name="New session").click()
    await expect(page.get_by_role("heading", name="New conversation")).to_be_visible()
    await expect(texts(page)).to_have_count(0)
    await expect(message_box(page)).to_be_focused()
    await said(page, "Second thoughts", "You said: Second thoughts")
    second = session_in_url(page)
    assert second != first

    listed = await page.locator("#session-list a").evaluate_all(
        "links => links.map(link => link.hash.slice(1))"
    )
    assert listed.index(second) < listed.index(first)

    await session_link(page, first).click()
    await expect(texts(page)).to_have_text([BOB, HELLO_BOB])
    assert session_in_url(page) == first
    await session_link(page, second).click()
    await expect(texts(page)).to_have_text(["Second thoughts", "You said: Second thoughts"])
    await page.go_back()
    await expect(texts(page)).to_have_text([BOB, HELLO_BOB])
    await page.go_forward()
    await expect(texts(page)).to_have_text(["Second thoughts", "You said: Second thoughts"])

    confirmation = page.get_by_role("dialog", name="Delete this session?")
    await page.get_by_role("button", name="Delete session").click()
    await confirmation.get_by_role("button", name="Cancel").click()
    await expect(confirmation).to_be_hidden()
    await expect(texts(page)).to_have_count(2)

    await page.get_by_role("button", name="Delete session").click()
    await confirmation.get_by_role("button", name="Delete").click()
    await expect(page.get_by_role("status")).to_have_text("The session was deleted.")
    await expect(session_link(page, second)).to_have_count(0)
    await expect(session_link(page, first)).to_be_visible()
    await expect(page.get_by_role("heading", name="New conversation")).to_be_visible()
    assert "#" not in page.url
    assert (await client.get(f"/chat/{second}")).status_code == 404


async def test_replies_are_shown_as_text_never_as_html(
    page: Page, client: httpx.AsyncClient
) -> None:
    await page.goto(str(client.base_url))
    markup = "<script>alert(1)</script><img src=x onerror=alert(2)> <b>bold</b>"
    await said(page, markup, f"You said: {markup}")

    await message_box(page).fill("first line")
    await message_box(page).press("Shift+Enter")
    await message_box(page).press_sequentially("second line")
    assert await message_box(page).input_value() == "first line\nsecond line"
    await message_box(page).press("Enter")
    await expect(last_reply(page)).to_have_attribute("data-state", "done")
    assert await last_reply(page).locator(".text").inner_text() == (
        "You said: first line\nsecond line"
    )

    code = "def f():\n    return  [1,   2]"
    await say(page, f"Some code:\n```python\n{code}\n```\n{'long' * 200}")
    await expect(last_reply(page)).to_have_attribute("data-state", "done")
    assert await last_reply(page).locator("pre").text_content() == code

    await page.reload()
    await expect(texts(page).first).to_have_text(markup)
    await expect(last_reply(page).locator("pre")).to_have_count(1)
    log = page.get_by_role("log")
    assert await log.locator("script, img, b").count() == 0
    assert await log.evaluate("log => log.scrollWidth <= log.clientWidth")


@pytest.fixture
async def failing_url(
    settings: Settings, openai_stub_url: str, page_problems: PageProblems
) -> AsyncIterator[str]:
    """The app with the real ChatOpenAI against the stub, and a 100-byte message limit."""
    settings = settings.model_copy(
        update={
            "openai_base_url": openai_stub_url,
            "model_max_retries": 0,
            "model_timeout_seconds": 5.0,
            "max_message_bytes": 100,
        }
    )
    page_problems.allow(r"status of (413|502)\b")
    async with serve(create_app(settings)) as url:
        yield url


FAILURES = [
    pytest.param({}, "x" * 101, "The message is too long for this server", id="413"),
    pytest.param({"fail_status": 500}, "Hello", "The model failed to answer", id="502"),
    pytest.param(
        {"cut_after_tokens": 2}, "one two three four", "The reply broke off", id="cut-off"
    ),
]


@pytest.mark.parametrize(("failure", "message", "explanation"), FAILURES)
async def test_a_failure_is_explained_and_the_message_kept_to_send_again(
    page: Page,
    failing_url: str,
    stub_behaviour: StubBehaviour,
    failure: dict[str, int],
    message: str,
    explanation: str,
) -> None:
    for name, value in failure.items():
        setattr(stub_behaviour, name, value)
    await page.goto(failing_url)
    await say(page, message)

    problem = page.get_by_role("alert")
    await expect(problem).to_contain_text(explanation)
    await expect(problem).to_contain_text("Your message is back in the box")
    await expect(message_box(page)).to_have_value(message)
    await expect(page.get_by_role("button", name="Send")).to_be_enabled()
    if "cut_after_tokens" in failure:
        await expect(last_reply(page)).to_have_attribute("data-state", "failed")
        await expect(last_reply(page)).to_contain_text("This reply broke off and was not saved.")
    else:
        await expect(texts(page)).to_have_count(0)

    if failure:
        stub_behaviour.fail_status = stub_behaviour.cut_after_tokens = None
        await message_box(page).press("Enter")
        await expect(last_reply(page)).to_have_attribute("data-state", "done")
        await expect(last_reply(page).locator(".text")).to_have_text(f"You said: {message}")
        await expect(problem).to_be_hidden()


async def test_a_lost_connection_is_explained_and_the_message_kept(
    page: Page, client: httpx.AsyncClient, page_problems: PageProblems
) -> None:
    page_problems.allow("ERR_INTERNET_DISCONNECTED")
    # Once the reply is in, the page reads the conversation's versions again: that read may
    # meet the server already stopped as the test ends.
    page_problems.allow("ERR_CONNECTION_REFUSED")
    await page.goto(str(client.base_url))
    await page.context.set_offline(True)
    await say(page, "Are you there?")
    await expect(page.get_by_role("alert")).to_contain_text("The server could not be reached")
    await expect(message_box(page)).to_have_value("Are you there?")

    await page.context.set_offline(False)
    await message_box(page).press("Enter")
    await expect(last_reply(page).locator(".text")).to_have_text("You said: Are you there?")
    await expect(page.get_by_role("alert")).to_be_hidden()


async def test_stop_ends_a_streaming_reply(
    page: Page, client: httpx.AsyncClient, fake_model: FakeChatModel
) -> None:
    fake_model.gate = asyncio.Event()  # the model waits after its first token
    try:
        await page.goto(str(client.base_url))
        await say(page, "Tell me a long story")
        await expect(last_reply(page).locator(".text")).to_have_text("You")
        await page.get_by_role("button", name="Stop").click()
        await expect(last_reply(page)).to_have_attribute("data-state", "stopped")
        await expect(last_reply(page).locator(".note")).to_have_text("Stopped.")
        await expect(page.get_by_role("button", name="Stop")).to_be_hidden()
        await expect(page.get_by_role("button", name="Send")).to_be_enabled()
        await expect(message_box(page)).to_be_focused()
    finally:
        fake_model.gate.set()


async def test_the_api_key_is_asked_for_once_and_again_when_refused(
    page: Page, keyed_url: str, api_keys: tuple[str, str], page_problems: PageProblems
) -> None:
    page_problems.allow(r"status of 401\b")
    prompt = page.get_by_role("dialog", name="Enter your API key")

    async def give_key() -> None:
        await prompt.get_by_role("textbox", name="API key").fill(api_keys[0])
        await prompt.get_by_role("button", name="Use this key").click()

    await page.goto(keyed_url)
    await expect(prompt).to_contain_text("This server asks for an API key.")
    await give_key()
    await said(page, BOB, HELLO_BOB)

    await page.reload()
    await expect(texts(page)).to_have_text([BOB, HELLO_BOB])
    await expect(prompt).to_be_hidden()

    await page.evaluate("sessionStorage.setItem('chat-server.api-key', 'not-a-key')")
    await page.reload()
    await expect(prompt).to_contain_text("The server did not accept that API key.")
    await give_key()
    await expect(texts(page)).to_have_text([BOB, HELLO_BOB])


async def test_a_phone_sized_screen_with_the_keyboard_alone(
    page: Page, client: httpx.AsyncClient
) -> None:
    await page.set_viewport_size({"width": 390, "height": 760})
    await page.goto(str(client.base_url))

    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the message box")
    await expect(skip).to_be_focused()
    assert await skip.evaluate("link => getComputedStyle(link).outlineStyle") == "solid"
    await page.keyboard.press("Enter")
    await expect(message_box(page)).to_be_focused()
    await page.keyboard.type("Hello from a phone")
    await page.keyboard.press("Enter")
    await expect(last_reply(page).locator(".text")).to_have_text("You said: Hello from a phone")
    session_id = session_in_url(page)

    sessions = page.get_by_role("button", name="Sessions", exact=True)
    await expect(sessions).to_have_attribute("aria-expanded", "false")
    await expect(session_link(page, session_id)).to_be_hidden()
    await sessions.click()
    await expect(sessions).to_have_attribute("aria-expanded", "true")
    await session_link(page, session_id).click()
    await expect(session_link(page, session_id)).to_be_hidden()
    await expect(message_box(page)).to_be_focused()
    await expect(texts(page)).to_have_text(["Hello from a phone", "You said: Hello from a phone"])
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


class NumberedReplies(FakeChatModel):
    """Numbers its replies, so that a reply regenerated differs from the one before."""

    replies: int = 0

    def _reply(self, messages: list[BaseMessage]) -> str:
        self.replies += 1
        return f"{super()._reply(messages)} (reply {self.replies})"


@pytest.fixture
async def numbered_url(settings: Settings) -> AsyncIterator[str]:
    """The app with a model that numbers its replies, one word every 20 ms."""
    async with serve(create_app(settings, chat_model=NumberedReplies(delay=0.02))) as url:
        yield url


def versions(message: Locator) -> Locator:
    return message.get_by_role("group", name=re.compile(r"^Versions of this"))


def user_message(page: Page, text: str) -> Locator:
    return page.locator('.message[data-role="user"]', has_text=text)


async def switch(message: Locator, to: str) -> None:
    """Clicks the message's "Previous version" or "Next version" button."""
    await versions(message).get_by_role("button", name=f"{to} version").click()


async def test_a_reply_is_regenerated_and_both_versions_kept(page: Page, numbered_url: str) -> None:
    await page.goto(numbered_url)
    await said(page, "Hi", "You said: Hi (reply 1)")
    await expect(versions(last_reply(page))).to_have_count(0)
    await page.evaluate(RECORD_REPLY_GROWTH)

    await last_reply(page).get_by_role("button", name="Regenerate").click()
    await expect(texts(page)).to_have_text(["Hi", "You said: Hi (reply 2)"])
    await expect(versions(last_reply(page))).to_contain_text("2 / 2")
    growth: list[str] = await page.evaluate("window.replyGrowth")
    assert len(growth) >= 3, growth
    assert all(later.startswith(earlier) for earlier, later in pairwise(growth))

    await switch(last_reply(page), "Previous")
    await expect(texts(page)).to_have_text(["Hi", "You said: Hi (reply 1)"])
    await expect(versions(last_reply(page))).to_contain_text("1 / 2")
    # At the first version, the focus moves to the only way left, and the keyboard goes on.
    next_version = versions(last_reply(page)).get_by_role("button", name="Next version")
    await expect(next_version).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(texts(page)).to_have_text(["Hi", "You said: Hi (reply 2)"])
    await expect(page.get_by_role("status")).to_have_text("Showing version 2 / 2.")

    # The session goes on from its latest version: the one a reload shows.
    await switch(last_reply(page), "Previous")
    await expect(texts(page)).to_have_text(["Hi", "You said: Hi (reply 1)"])
    await page.reload()
    await expect(texts(page)).to_have_text(["Hi", "You said: Hi (reply 2)"])
    await expect(versions(last_reply(page))).to_contain_text("2 / 2")


async def test_the_latest_message_is_edited_and_older_versions_go_on(
    page: Page, numbered_url: str
) -> None:
    await page.goto(numbered_url)
    hello = "Hello Bob! It's nice to meet you. How can I help you today? (reply 1)"
    await said(page, BOB, hello)
    await said(page, "What's my name again?", "Your name is Bob. (reply 2)")
    await expect(user_message(page, BOB).get_by_role("button", name="Edit")).to_have_count(0)

    asked = user_message(page, "What's my name again?")
    await asked.get_by_role("button", name="Edit").click()
    box = page.get_by_role("textbox", name="Edit your message")
    await expect(box).to_be_focused()
    await expect(box).to_have_value("What's my name again?")
    await box.press("Escape")
    await expect(box).to_have_count(0)
    await expect(asked.get_by_role("button", name="Edit")).to_be_focused()
    await expect(texts(page)).to_have_count(4)

    await page.keyboard.press("Enter")
    await box.fill("Call me Alice")
    await box.press("Enter")
    await expect(texts(page)).to_have_text(
        [BOB, hello, "Call me Alice", "You said: Call me Alice (reply 3)"]
    )
    await expect(last_reply(page)).to_have_attribute("data-state", "done")
    await expect(versions(user_message(page, "Call me Alice"))).to_contain_text("2 / 2")
    await expect(versions(last_reply(page))).to_have_count(0)

    await switch(user_message(page, "Call me Alice"), "Previous")
    await expect(texts(page)).to_have_text(
        [BOB, hello, "What's my name again?", "Your name is Bob. (reply 2)"]
    )
    # A message sent from an older version goes on from it, and is the latest from then on.
    await said(page, "Thanks", "You said: Thanks (reply 4)")
    older = [BOB, hello, "What's my name again?", "Your name is Bob. (reply 2)"]
    await expect(texts(page)).to_have_text([*older, "Thanks", "You said: Thanks (reply 4)"])
    await page.reload()
    await expect(texts(page)).to_have_text([*older, "Thanks", "You said: Thanks (reply 4)"])
    await expect(versions(user_message(page, "What's my name again?"))).to_contain_text("1 / 2")


async def test_a_failed_regenerate_or_edit_leaves_the_conversation_as_it_was(
    page: Page, failing_url: str, stub_behaviour: StubBehaviour
) -> None:
    await page.goto(failing_url)
    await said(page, "Hello", "You said: Hello")
    stub_behaviour.fail_status = 500

    await last_reply(page).get_by_role("button", name="Regenerate").click()
    problem = page.get_by_role("alert")
    await expect(problem).to_contain_text("The model failed to answer")
    await expect(texts(page)).to_have_text(["Hello", "You said: Hello"])
    await expect(versions(last_reply(page))).to_have_count(0)

    await user_message(page, "Hello").get_by_role("button", name="Edit").click()
    box = page.get_by_role("textbox", name="Edit your message")
    await box.fill("Hello again")
    await box.press("Enter")
    await expect(problem).to_contain_text("Your message is back in the box")
    await expect(box).to_have_value("Hello again")
    await expect(last_reply(page).locator(".text")).to_have_text("You said: Hello")

    stub_behaviour.fail_status = None
    await box.press("Enter")
    await expect(texts(page)).to_have_text(["Hello again", "You said: Hello again"])
    await expect(versions(user_message(page, "Hello again"))).to_contain_text("2 / 2")
    await expect(problem).to_be_hidden()
