"""GET /metrics scraped after real turns: in-process for each turn outcome, and through the
`chat-server` CLI with one worker and with two, where every scrape must report the whole server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError

from api.main import create_app
from api.settings import Settings
from devtools.openai_stub import StubBehaviour
from devtools.processes import server_environment
from devtools.replies import reply_to, tokens
from tests.support.chat_client import eventually, new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import chat_server_process, serve

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: httpx.AsyncClient, **headers: str) -> Samples:
    response = await http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def turns(samples: Samples) -> dict[str, float]:
    return {
        dict(labels)["outcome"]: v
        for (name, labels), v in samples.items()
        if name == "chat_turns_total"
    }


def _token_count(message: str) -> int:
    return len(tokens(reply_to([message])))


async def test_completed_turns_are_counted_with_their_tokens_and_timings(
    client: httpx.AsyncClient,
) -> None:
    session_id = await new_session(client)
    await say(client, session_id, "Hi, my name is Bob!")
    await say(client, session_id, "one two three")

    samples = await scrape(client)
    assert turns(samples) == {
        "completed": 2,
        "failed_before_first_token": 0,
        "failed_mid_reply": 0,
        "cancelled": 0,
        "rejected": 0,
    }
    expected_tokens = _token_count("Hi, my name is Bob!") + _token_count("one two three")
    assert value(samples, "chat_tokens_streamed_total") == expected_tokens
    assert value(samples, "chat_time_to_first_token_seconds_count") == 2
    assert value(samples, "chat_turn_duration_seconds_count", outcome="completed") == 2
    assert value(samples, "chat_session_lock_wait_seconds_count") == 2
    assert value(samples, "chat_streams_in_progress") == 0
    assert value(samples, "chat_model_errors_total", kind="timeout") == 0

    turn_route = {"method": "POST", "route": "/chat/{session_id}"}
    assert value(samples, "chat_http_requests_total", **turn_route, status="200") == 2
    assert value(samples, "chat_http_requests_total", method="POST", route="/chat", status="201")
    assert value(samples, "chat_http_request_duration_seconds_count", **turn_route) == 2

    # The pool's own figures: it opens DB_POOL_MIN_SIZE (2) connections, and may grow to 20.
    assert value(samples, "chat_db_pool_size") >= 2
    assert value(samples, "chat_db_pool_max_size") == 20
    assert 0 <= value(samples, "chat_db_pool_in_use") <= value(samples, "chat_db_pool_size")
    assert value(samples, "chat_db_pool_waiting") == 0


async def test_paths_outside_any_route_share_one_series(client: httpx.AsyncClient) -> None:
    for path in ("/nothing-here", "/nor-here"):
        assert (await client.get(path)).status_code == 404
    samples = await scrape(client)
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert value(samples, "chat_http_requests_total", **unmatched) == 2
    assert not any("/nothing-here" in str(labels) for _, labels in samples)


@pytest.fixture
async def stub_client(settings: Settings, openai_stub_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app with the real ChatOpenAI client talking to the stub."""
    real_model = settings.model_copy(
        update={"openai_base_url": openai_stub_url, "model_max_retries": 0}
    )
    async with (
        serve(create_app(real_model)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


async def test_model_failures_are_counted_by_when_and_by_kind(
    stub_client: httpx.AsyncClient, stub_behaviour: StubBehaviour
) -> None:
    session_id = await new_session(stub_client)

    stub_behaviour.fail_status = 429
    assert (await stub_client.post(f"/chat/{session_id}", content="Hello")).status_code == 502
    stub_behaviour.fail_status = None

    stub_behaviour.cut_after_tokens = 2
    cut = await stub_client.post(f"/chat/{session_id}", content="Hi, my name is Bob!")
    assert "[error: the reply was cut off" in cut.text
    stub_behaviour.cut_after_tokens = None

    missing = "00000000-0000-4000-8000-000000000000"
    assert (await stub_client.post(f"/chat/{missing}", content="Hello")).status_code == 404

    samples = await scrape(stub_client)
    assert turns(samples) == {
        "completed": 0,
        "failed_before_first_token": 1,
        "failed_mid_reply": 1,
        "cancelled": 0,
        "rejected": 1,
    }
    assert value(samples, "chat_model_errors_total", kind="http_429") == 1
    assert value(samples, "chat_model_errors_total", kind="connection") == 1
    assert value(samples, "chat_tokens_streamed_total") == 2
    assert value(samples, "chat_time_to_first_token_seconds_count") == 1
    assert value(samples, "chat_turn_duration_seconds_count", outcome="rejected") == 0


async def test_a_cancelled_turn_is_counted_and_leaves_no_stream_open(settings: Settings) -> None:
    model = FakeChatModel(gate=asyncio.Event())  # never opened: only a cancel ends the call
    app = create_app(settings.model_copy(update={"on_disconnect": "cancel"}), chat_model=model)
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        session_id = await new_session(http)
        async with http.stream("POST", f"/chat/{session_id}", content="one two") as response:
            await asyncio.wait_for(anext(response.aiter_text()), timeout=10)
            assert value(await scrape(http), "chat_streams_in_progress") == 1

        async def cancelled() -> bool:
            return turns(await scrape(http))["cancelled"] == 1

        await eventually(cancelled)
        samples = await scrape(http)
    assert value(samples, "chat_streams_in_progress") == 0
    assert value(samples, "chat_turn_duration_seconds_count", outcome="cancelled") == 1


async def test_a_lost_lock_connection_is_counted_while_its_turn_runs(
    settings: Settings, database_url: str
) -> None:
    gate = asyncio.Event()
    app = create_app(settings, chat_model=FakeChatModel(gate=gate))
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=30) as http:
        session_id = await new_session(http)
        async with http.stream("POST", f"/chat/{session_id}", content="one two") as response:
            texts = response.aiter_text()
            await asyncio.wait_for(anext(texts), timeout=10)
            async with await psycopg.AsyncConnection.connect(database_url) as admin:
                # The backend that holds the session's advisory lock.
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND objid = (hashtextextended(%s, 0) & 4294967295)::oid",
                    (session_id,),
                )

            async def counted() -> bool:
                return value(await scrape(http), "chat_lock_connection_lost_total") == 1

            await eventually(counted)  # while the turn still waits for its model
            assert value(await scrape(http), "chat_session_locks_lost_total") == 1
            gate.set()
            # No other turn ran: the fenced save keeps this one.
            assert "".join([text async for text in texts]).endswith("\n")


METRICS_KEY = "the-operator-s-key"


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert "METRICS_API_KEY" in response.json()["detail"]


@pytest.fixture
def keyed(settings: Settings, api_keys: tuple[str, str]) -> Settings:
    """The test's settings with API_KEYS set to `api_keys`."""
    return settings.model_copy(update={"api_keys": tuple(SecretStr(k) for k in api_keys)})


async def test_only_the_metrics_key_opens_metrics(
    keyed: Settings, fake_model: FakeChatModel, api_keys: tuple[str, str]
) -> None:
    guarded = keyed.model_copy(update={"metrics_api_key": SecretStr(METRICS_KEY)})
    async with serve(create_app(guarded, chat_model=fake_model)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            assert_unauthorized(await http.get("/metrics"))
            for key in (*api_keys, "wrong"):
                assert_unauthorized(await http.get("/metrics", headers={"X-Api-Key": key}))
                bearer = {"Authorization": f"Bearer {key}"}
                assert_unauthorized(await http.get("/metrics", headers=bearer))
            await scrape(http, Authorization=f"Bearer {METRICS_KEY}")
            await scrape(http, **{"X-Api-Key": METRICS_KEY})
            # The metrics key is no key to the API.
            assert (await http.get("/chat", headers={"X-Api-Key": METRICS_KEY})).status_code == 401


async def test_metrics_are_closed_to_tenants_without_a_metrics_key(
    keyed: Settings, fake_model: FakeChatModel, api_keys: tuple[str, str]
) -> None:
    async with serve(create_app(keyed, chat_model=fake_model)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            for headers in (
                {},
                {"Authorization": f"Bearer {api_keys[0]}"},
                {"X-Api-Key": api_keys[1]},
            ):
                refused = await http.get("/metrics", headers=headers)
                assert refused.status_code == 403, refused.text
                detail = refused.json()["detail"]
                assert "METRICS_API_KEY" in detail and "METRICS_PUBLIC=true" in detail


async def test_public_metrics_need_no_key(keyed: Settings, fake_model: FakeChatModel) -> None:
    public = keyed.model_copy(update={"metrics_public": True})
    async with serve(create_app(public, chat_model=fake_model)) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            await scrape(http)
            # Only /metrics is opened.
            assert (await http.get("/chat")).status_code == 401


def test_a_metrics_key_must_stand_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "key-one,key-two")
    monkeypatch.setenv("METRICS_API_KEY", "key-two")
    with pytest.raises(ValidationError, match="METRICS_API_KEY is one of API_KEYS"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("METRICS_API_KEY", METRICS_KEY)
    monkeypatch.setenv("METRICS_PUBLIC", "true")
    with pytest.raises(ValidationError, match="METRICS_PUBLIC is true: choose one"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("METRICS_PUBLIC", "false")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.metrics_api_key == SecretStr(METRICS_KEY)


async def test_metrics_stay_out_of_the_api_schema(client: httpx.AsyncClient) -> None:
    assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


MESSAGES = ("Hi, my name is Bob!", "Hi, my name is Matt!", "one two three")


@pytest.mark.parametrize("workers", [1, 2])
async def test_every_scrape_reports_the_whole_server(
    workers: int, scratch_dir: Path, database_url: str, openai_stub_url: str
) -> None:
    env = server_environment(DATABASE_URL=database_url, OPENAI_BASE_URL=openai_stub_url)
    async with chat_server_process(scratch_dir, env, "--workers", str(workers)) as server:

        def fresh_client() -> httpx.AsyncClient:
            # A connection of its own, which the kernel may hand to either worker.
            return httpx.AsyncClient(base_url=server.url, timeout=30)

        async def every_pool_counted() -> bool:
            async with fresh_client() as http:
                return value(await scrape(http), "chat_db_pool_max_size") == 20 * workers

        # Each worker's pool may grow to DB_POOL_MAX_SIZE (20): a scrape that sums them has read
        # every worker's figures, whichever worker answered it.
        await eventually(every_pool_counted, timeout=60)

        for message in MESSAGES:
            async with fresh_client() as http:
                await say(http, await new_session(http), message)

        created = {"method": "POST", "route": "/chat", "status": "201"}
        for _ in range(6):
            async with fresh_client() as http:
                samples = await scrape(http)
            assert turns(samples)["completed"] == len(MESSAGES)
            assert value(samples, "chat_tokens_streamed_total") == sum(map(_token_count, MESSAGES))
            assert value(samples, "chat_http_requests_total", **created) == len(MESSAGES)
            assert value(samples, "chat_time_to_first_token_seconds_count") == len(MESSAGES)
            assert value(samples, "chat_db_pool_size") >= 2 * workers
            assert value(samples, "chat_streams_in_progress") == 0
    assert server.process.returncode == 0


async def test_the_metrics_directory_is_emptied_at_start(
    scratch_dir: Path, database_url: str, openai_stub_url: str
) -> None:
    # Set by the operator, the directory is used whatever the number of workers: one will do.
    metrics_dir = scratch_dir / "metrics"
    env = server_environment(
        DATABASE_URL=database_url,
        OPENAI_BASE_URL=openai_stub_url,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await say(http, await new_session(http), "Hello")
    assert list(metrics_dir.glob("counter_*.db"))  # what the first run left behind

    async with chat_server_process(scratch_dir, env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            assert turns(await scrape(http))["completed"] == 0
            await say(http, await new_session(http), "Hello again")
            assert turns(await scrape(http))["completed"] == 1
