"""Fixtures of the HTTP tests that are about browsers: an app that allows one more origin, and
the chat page in Debian's Chromium."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Dialog, Page, async_playwright

from api.main import create_app
from api.settings import Settings
from tests.support.fakes import FakeChatModel
from tests.support.origins import CHAT_UI
from tests.support.servers import serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
async def http(settings: Settings, fake_model: FakeChatModel) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with the fake model and CORS_ORIGINS set to CHAT_UI."""
    configured = settings.model_copy(update={"cors_origins": (CHAT_UI,)})
    async with (
        serve(create_app(configured, chat_model=fake_model)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield client


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, launched once for the whole run."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@dataclass
class PageProblems:
    """Script errors, console errors and JavaScript dialogs seen in the pages it `watch`es: a test
    has none.

    A request the page makes and the server refuses is logged by Chromium as a console error;
    a test expecting that refusal allows it with `allow`.
    """

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def watch(self, page: Page) -> Page:
        page.on("pageerror", self.on_page_error)
        page.on("console", self.on_console)
        page.on("dialog", self.on_dialog)
        return page

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def on_page_error(self, error: Exception) -> None:
        self.seen.append(f"script error: {error}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(p.search(message.text) for p in self.allowed):
            self.seen.append(f"console error: {message.text} ({message.location})")

    async def on_dialog(self, dialog: Dialog) -> None:
        self.seen.append(f"{dialog.type} dialog: {dialog.message}")
        await dialog.dismiss()


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
async def page(
    browser: Browser, page_problems: PageProblems, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    """A page in a fresh browser context; its last state is saved to tests/artifacts/."""
    context = await browser.new_context(viewport={"width": 1000, "height": 700})
    page = page_problems.watch(await context.new_page())
    yield page
    try:
        await page.screenshot(path=ARTIFACTS / f"{request.node.name}.png")
    finally:
        await context.close()
    assert not page_problems.seen, "\n".join(page_problems.seen)
