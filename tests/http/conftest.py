"""Fixtures of the HTTP tests that are about browsers: an app that allows one more origin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.main import create_app
from api.settings import Settings
from tests.support.fakes import FakeChatModel
from tests.support.origins import CHAT_UI
from tests.support.servers import serve


@pytest.fixture
async def http(settings: Settings, fake_model: FakeChatModel) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with the fake model and CORS_ORIGINS set to CHAT_UI."""
    configured = settings.model_copy(update={"cors_origins": (CHAT_UI,)})
    async with (
        serve(create_app(configured, chat_model=fake_model)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield client
