"""Fixtures of the LangGraph client tests: the JS SDKs' scripts and pages, and a server to hold
against `langgraph dev`."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from api.main import create_app
from api.settings import Settings
from tests.langgraph.node_scripts import JS
from tests.support.servers import serve

JS_STREAM = Path(__file__).resolve().parent / "js_stream"
CHROMIUM = Path("/usr/bin/chromium")


def _installed(package: Path) -> Path:
    """`package` with what its package.json pins installed from its lock file (again when a pin
    has changed); node must be there."""
    assert shutil.which("node") is not None, "node is not installed: the JS tests need Node.js 20"
    wanted = json.loads((package / "package.json").read_text())["dependencies"]
    installed = [package / "node_modules" / name / "package.json" for name in wanted]
    if not all(
        path.is_file() and json.loads(path.read_text())["version"] == version
        for path, version in zip(installed, wanted.values(), strict=True)
    ):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=package, check=True
        )
    return package


def bundled_page(package: Path, entry: str, directory: Path) -> str:
    """A page running `entry` (JSX, with its imports from `package`'s node_modules), bundled by
    esbuild into `directory` for a browser."""
    bundle = directory / "page.js"
    esbuild = package / "node_modules" / ".bin" / "esbuild"
    production = '--define:process.env.NODE_ENV="production"'
    subprocess.run(
        [str(esbuild), entry, "--bundle", "--format=iife", "--jsx=automatic", production,
         "--log-level=warning", f"--outfile={bundle}"],
        cwd=package,
        check=True,
    )  # fmt: skip
    return f'<!doctype html><div id="root"></div><script>{bundle.read_text()}</script>'


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """tests/langgraph/js (the JS SDK at the version Agent Chat UI pins) installed."""
    return _installed(JS)


@pytest.fixture(scope="session")
def node_stream_sdk() -> Path:
    """tests/langgraph/js_stream installed: the newest JS clients, which speak the
    thread-centric protocol (the SDK's threads.stream and StreamController, @langchain/react)."""
    return _installed(JS_STREAM)


@pytest.fixture(params=["openai_app_url", "langgraph_dev"], ids=["this server", "langgraph dev"])
def server_url(request: pytest.FixtureRequest) -> str:
    """This server, then `langgraph dev`, both with ChatOpenAI and the stub: a test that takes
    it holds the two to the same answers."""
    url: str = request.getfixturevalue(request.param)
    return url


@pytest.fixture
async def page_origin(page_html: str) -> AsyncIterator[str]:
    """The test module's `page_html`, served from 127.0.0.1 as a dev server serves a UI."""

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page_html)

    async with serve(Starlette(routes=[Route("/", index)])) as url:
        yield url


@pytest.fixture
async def page_app_url(
    settings: Settings, openai_stub_url: str, page_origin: str
) -> AsyncIterator[str]:
    """The app with ChatOpenAI and the stub, allowing the page's origin (CORS_ORIGINS)."""
    configured = settings.model_copy(
        update={"openai_base_url": openai_stub_url, "cors_origins": (page_origin,)}
    )
    async with serve(create_app(configured)) as url:
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[BrowserContext]:
    """A context of a headless Chromium (Debian's: Playwright cannot download one here), its
    tabs opened with `new_page()`; none of them may see a script error."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    errors: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda error: errors.append(str(error)))

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = await chromium.new_context()
        context.set_default_timeout(20_000)
        context.on("page", watch)
        yield context
        await chromium.close()
    assert errors == []
