from __future__ import annotations

import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from pydantic import SecretStr

from api.main import create_app
from api.settings import Settings
from api.store.database import start_embedded
from devtools.databases import throwaway_database
from devtools.openai_stub import StubBehaviour, create_stub
from devtools.ports import free_port
from devtools.processes import server_environment, server_process
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve

ROOT = Path(__file__).resolve().parent.parent
LANGGRAPH = str(Path(sys.executable).parent / "langgraph")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """TEST_DATABASE_URL, or else an embedded PostgreSQL under .data/test-postgres."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    server = start_embedded(ROOT / ".data" / "test-postgres")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    """An empty directory inside the project, removed afterwards.

    Embedded PostgreSQL servers run as another user and need every parent directory readable:
    pytest's own tmp_path sits under a directory that pytest keeps private to root.
    """
    path = ROOT / ".data" / "scratch" / uuid4().hex[:12]
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _throwaway_database(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url, "test") as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A database of this test run's own, dropped at the end."""
    yield from _throwaway_database(postgres_server_url)


@pytest.fixture
def new_database(postgres_server_url: str) -> Iterator[str]:
    """An empty database, never migrated, for one test."""
    yield from _throwaway_database(postgres_server_url)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        openai_api_key=None,
        openai_base_url=None,
    )


@pytest.fixture
def fake_model() -> FakeChatModel:
    return FakeChatModel()


@pytest.fixture
async def client(settings: Settings, fake_model: FakeChatModel) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with the fake model, served by a real uvicorn on 127.0.0.1."""
    async with (
        serve(create_app(settings, chat_model=fake_model)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


@pytest.fixture
def stub_behaviour() -> StubBehaviour:
    return StubBehaviour()


@pytest.fixture
async def openai_stub_url(stub_behaviour: StubBehaviour) -> AsyncIterator[str]:
    """The base URL (with /v1) of an OpenAI-compatible stub served on 127.0.0.1."""
    async with serve(create_stub(stub_behaviour)) as url:
        yield f"{url}/v1"


@pytest.fixture
async def openai_app_url(settings: Settings, openai_stub_url: str) -> AsyncIterator[str]:
    """The base URL of the app with the real ChatOpenAI client talking to the stub."""
    settings = settings.model_copy(
        update={
            "openai_base_url": openai_stub_url,
            "model_timeout_seconds": 1.0,
            "model_max_retries": 0,
        }
    )
    async with serve(create_app(settings)) as url:
        yield url


@pytest.fixture
def api_keys() -> tuple[str, str]:
    """Two keys of this test's own, so the sessions each one owns are only this test's."""
    return f"key-a-{uuid4().hex}", f"key-b-{uuid4().hex}"


@pytest.fixture
async def keyed_url(
    settings: Settings, fake_model: FakeChatModel, api_keys: tuple[str, str]
) -> AsyncIterator[str]:
    """The base URL of the app with the fake model and API_KEYS set to `api_keys`."""
    keyed = settings.model_copy(update={"api_keys": tuple(SecretStr(k) for k in api_keys)})
    async with serve(create_app(keyed, chat_model=fake_model)) as url:
        yield url


@pytest.fixture
async def keyed_client(
    keyed_url: str, api_keys: tuple[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `keyed_url` that sends the first key."""
    headers = {"Authorization": f"Bearer {api_keys[0]}"}
    async with httpx.AsyncClient(base_url=keyed_url, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture
async def langgraph_dev(openai_stub_url: str) -> AsyncIterator[str]:
    """`langgraph dev` serving the graph (in memory) with the stub as its model: the reference
    LangGraph server, to hold this one's LangGraph API against."""
    port = free_port()
    async with server_process(
        [LANGGRAPH, "dev", "--no-browser", "--no-reload", "--port", str(port)],
        port=port,
        ready_path="/ok",
        cwd=ROOT,
        env=server_environment(OPENAI_BASE_URL=openai_stub_url, LANGSMITH_TRACING="false"),
        stop_signal=signal.SIGTERM,
    ) as server:
        yield server.url
