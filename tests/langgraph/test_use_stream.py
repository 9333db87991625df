"""useStream itself, the hook Agent Chat UI is built on (@langchain/langgraph-sdk/react 1.8.10),
in Chromium: a page with Agent Chat UI's handlers sends, regenerates, edits and turns the branch
switchers, against this server and against `langgraph dev`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright, expect
from playwright.async_api import Request as BrowserRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from api.main import create_app
from api.settings import Settings
from tests.support.servers import serve

CHROMIUM = Path("/usr/bin/chromium")
BOB = "Hi, my name is Bob!"
HELLO_BOB = "Hello Bob! It's nice to meet you. How can I help you today?"
QUESTION = "What's my name again?"
ANSWER = "Your name is Bob."
ALICE = "Call me Alice"


@pytest.fixture(scope="session")
def page_html(node_sdk: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page, its script bundled by esbuild from tests/langgraph/js."""
    bundle = tmp_path_factory.mktemp("use-stream") / "page.js"
    subprocess.run(
        [
            str(node_sdk / "node_modules" / ".bin" / "esbuild"),
            "use_stream_page.jsx",
            "--bundle",
            "--format=iife",
            "--jsx=automatic",
            '--define:process.env.NODE_ENV="production"',
            "--log-level=warning",
            f"--outfile={bundle}",
        ],
        cwd=node_sdk,
        check=True,
    )
    return f'<!doctype html><div id="root"></div><script>{bundle.read_text()}</script>'


@pytest.fixture
async def page_url(page_html: str) -> AsyncIterator[str]:
    """The page, served from 127.0.0.1 as `pnpm dev` serves Agent Chat UI from localhost."""

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page_html)

    async with serve(Starlette(routes=[Route("/", index)])) as url:
        yield url


@pytest.fixture
async def chat_ui_url(
    settings: Settings, openai_stub_url: str, page_url: str
) -> AsyncIterator[str]:
    """The app with ChatOpenAI and the stub, allowing the page's origin (CORS_ORIGINS)."""
    configured = settings.model_copy(
        update={"openai_base_url": openai_stub_url, "cors_origins": (page_url,)}
    )
    async with serve(create_app(configured)) as url:
        yield url


@pytest.fixture(params=["chat_ui_url", "langgraph_dev"], ids=["this server", "langgraph dev"])
def ui_server(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    """A page of a headless Chromium, which must see no script error."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        await browser.close()
    assert errors == []


def _runs(requests: list[BrowserRequest]) -> list[dict[str, Any]]:
    return [json.loads(r.post_data or "{}") for r in requests if r.url.endswith("/runs/stream")]


async def _settled(page: Page, texts: list[str]) -> None:
    await expect(page.locator(".message .text")).to_have_text(texts)
    await expect(page.locator("main")).to_have_attribute("data-loading", "no")


async def test_regenerate_edit_and_branches_through_use_stream(
    page: Page, page_url: str, ui_server: str
) -> None:
    requests: list[BrowserRequest] = []
    page.on("request", lambda request: requests.append(request))
    await page.goto(f"{page_url}/?apiUrl={ui_server}")
    for text, shown in ((BOB, [BOB, HELLO_BOB]), (QUESTION, [BOB, HELLO_BOB, QUESTION, ANSWER])):
        await page.locator(".input").fill(text)
        await page.get_by_role("button", name="Send").click()
        await _settled(page, shown)
    messages = page.locator(".message")
    first_reply = await messages.nth(3).get_attribute("data-id")

    await messages.nth(3).locator(".regenerate").click()
    await _settled(page, [BOB, HELLO_BOB, QUESTION, ANSWER])
    await expect(messages.nth(3).locator(".position")).to_have_text("2 / 2")
    regenerated = await messages.nth(3).get_attribute("data-id")
    assert regenerated != first_reply
    await expect(page.locator(".position")).to_have_count(1)

    await messages.nth(2).locator(".edit").click()
    await messages.nth(2).locator("textarea").fill(ALICE)
    await messages.nth(2).locator(".submit-edit").click()
    await _settled(page, [BOB, HELLO_BOB, ALICE, f"You said: {ALICE}"])
    await expect(messages.nth(2).locator(".position")).to_have_text("2 / 2")
    await expect(page.locator(".position")).to_have_count(1)

    # The switchers turned back: the question and its newest reply, then its first reply.
    await messages.nth(2).locator(".previous").click()
    await _settled(page, [BOB, HELLO_BOB, QUESTION, ANSWER])
    await expect(page.locator(".position")).to_have_text(["1 / 2", "2 / 2"])
    await expect(messages.nth(3)).to_have_attribute("data-id", regenerated or "")
    await messages.nth(3).locator(".previous").click()
    await expect(page.locator(".position")).to_have_text(["1 / 2", "1 / 2"])
    await expect(messages.nth(3)).to_have_attribute("data-id", first_reply or "")

    # What the hook sent: Agent Chat UI's stream modes, and the checkpoints of the history.
    first, second, regenerate, edit = _runs(requests)
    for body in (first, second, regenerate, edit):
        assert body["stream_mode"] == ["values", "messages-tuple", "custom"]
    assert "checkpoint" not in first
    assert "input" not in regenerate
    assert edit["input"] == {"messages": [{"type": "human", "content": ALICE}]}
    histories = [r for r in requests if r.url.endswith("/history")]
    assert {r.post_data for r in histories} == {'{"limit":10}'}
    assert regenerate["checkpoint"]["checkpoint_id"] != edit["checkpoint"]["checkpoint_id"]
