"""Bad input to POST /chat/{id}: a clear 4xx with a JSON `detail`, and nothing stored."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from api.main import create_app
from api.settings import Settings
from tests.support.chat_client import eventually, new_session, say
from tests.support.fakes import FakeChatModel
from tests.support.servers import serve
from tests.support.stored import stored_turns

LIMIT = Settings.model_fields["max_message_bytes"].default
JSON = {"Content-Type": "application/json"}


def assert_refused(response: httpx.Response, status: int, detail: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str) and body["detail"]
    if detail is not None:
        assert body["detail"] == detail


async def assert_nothing_stored(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str, session_id: str
) -> None:
    """The model was never called, the session holds nothing, and it still works."""
    assert fake_model.calls == []
    assert await stored_turns(database_url, session_id) == []
    assert await say(client, session_id, "still here") == "You said: still here\n"
    assert await stored_turns(database_url, session_id) == [
        ("human", "still here"),
        ("ai", "You said: still here"),
    ]


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ("", {}),
        ("   ", {}),
        (" \t\r\n\u00a0\u3000", {}),
        (json.dumps({"message": ""}), JSON),
        (json.dumps({"message": " \n\t "}), JSON),
    ],
    ids=["empty", "spaces", "unicode-whitespace", "json-empty", "json-whitespace"],
)
async def test_empty_or_whitespace_message_is_422(
    client: httpx.AsyncClient,
    fake_model: FakeChatModel,
    database_url: str,
    content: str,
    headers: dict[str, str],
) -> None:
    session_id = await new_session(client)
    response = await client.post(f"/chat/{session_id}", content=content, headers=headers)
    assert_refused(response, 422, "the message is empty")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


async def test_message_over_the_limit_with_a_content_length_is_413(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    session_id = await new_session(client)
    response = await client.post(f"/chat/{session_id}", content=b"x" * (LIMIT + 1))
    assert_refused(response, 413, f"the message is larger than {LIMIT} bytes")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


async def test_chunked_message_over_the_limit_is_413(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024 + 1):
            yield b"x" * 1024

    session_id = await new_session(client)
    response = await client.post(f"/chat/{session_id}", content=body())
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_refused(response, 413, f"the message is larger than {LIMIT} bytes")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


ENDLESS = 64 * 1024 * 1024
CHUNK = 64 * 1024


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_server_stops_reading_a_body_over_the_limit(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str, declared: bool
) -> None:
    # The body would be 64 MiB: a server that read it all before refusing would drain the whole
    # generator. One that stops at the limit leaves most of it unsent: at most what the socket
    # buffers between the two hold once the server stops reading.
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < ENDLESS:
            sent += CHUNK
            yield b"x" * CHUNK

    headers = {"Content-Length": str(ENDLESS)} if declared else {}
    session_id = await new_session(client)
    started = time.monotonic()
    try:
        response = await client.post(f"/chat/{session_id}", content=body(), headers=headers)
    except httpx.TransportError:
        # The server may close the connection before the client has read the 413: the refusal
        # is then a reset connection, which still means it stopped reading.
        response = None
    assert sent < ENDLESS // 4, f"the client sent {sent} bytes before the server stopped it"
    assert time.monotonic() - started < 10
    if response is not None:
        assert_refused(response, 413, f"the message is larger than {LIMIT} bytes")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


async def test_a_client_that_waits_for_100_continue_gets_the_413_without_sending_the_body(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    # curl sends `Expect: 100-continue` before a large body: the refusal comes instead of the
    # go-ahead, so the body never leaves the client.
    session_id = await new_session(client)
    url = httpx.URL(str(client.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            f"POST /chat/{session_id} HTTP/1.1\r\nHost: {url.host}\r\n"
            f"Content-Length: {ENDLESS}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        status_line, *header_lines = head.decode().split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in header_lines if line)
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 10)
    finally:
        writer.close()
    assert status_line.split(" ", 2)[:2] == ["HTTP/1.1", "413"]
    assert headers["connection"] == "close"
    assert json.loads(body) == {"detail": f"the message is larger than {LIMIT} bytes"}
    await assert_nothing_stored(client, fake_model, database_url, session_id)


@pytest.fixture
async def small_limit_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with MAX_MESSAGE_BYTES=16 and a fake model of its own."""
    small = settings.model_copy(update={"max_message_bytes": 16})
    async with (
        serve(create_app(small, chat_model=FakeChatModel())) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as http,
    ):
        yield http


@pytest.mark.parametrize(
    ("message", "accepted"),
    [
        ("x" * 16, True),
        ("x" * 17, False),
        ("é" * 8, True),
        ("é" * 9, False),
        ("😀" * 4, True),
        ("😀" * 4 + "x", False),
    ],
    ids=["16-ascii", "17-ascii", "8-two-byte", "9-two-byte", "4-four-byte", "4-four-byte-plus-1"],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["raw", "json"])
async def test_the_limit_counts_utf8_bytes_not_characters(
    small_limit_client: httpx.AsyncClient,
    database_url: str,
    message: str,
    accepted: bool,
    as_json: bool,
) -> None:
    session_id = await new_session(small_limit_client)
    # As JSON with every character escaped the body is far larger than the message: the limit
    # is on the message.
    content = json.dumps({"message": message}) if as_json else message
    headers = JSON if as_json else {}
    response = await small_limit_client.post(
        f"/chat/{session_id}", content=content, headers=headers
    )
    if accepted:
        assert response.status_code == 200, response.text
        assert await stored_turns(database_url, session_id) == [
            ("human", message),
            ("ai", f"You said: {message}"),
        ]
    else:
        assert_refused(response, 413, "the message is larger than 16 bytes")
        assert await stored_turns(database_url, session_id) == []


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"caf\xe9", b"\xe2\x82", b"\xc0\xaf", b"\xed\xa0\x80", b"ok \xf4\x90\x80\x80"],
    ids=["bom-like", "latin-1", "truncated", "overlong", "encoded-surrogate", "above-u10ffff"],
)
@pytest.mark.parametrize("headers", [{}, JSON], ids=["raw", "json"])
async def test_invalid_utf8_is_400(
    client: httpx.AsyncClient,
    fake_model: FakeChatModel,
    database_url: str,
    body: bytes,
    headers: dict[str, str],
) -> None:
    session_id = await new_session(client)
    content = b'{"message": "' + body + b'"}' if headers else body
    response = await client.post(f"/chat/{session_id}", content=content, headers=headers)
    assert_refused(response, 400, "the body is not valid UTF-8 text")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


@pytest.mark.parametrize(
    "content",
    ["", "{", '{"message": "hi"', "{message: 'hi'}", '{"message": "hi"} trailing', "[" * 100_000],
    ids=["empty", "open-brace", "unclosed", "unquoted", "trailing", "deeply-nested"],
)
async def test_malformed_json_is_422(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str, content: str
) -> None:
    session_id = await new_session(client)
    response = await client.post(f"/chat/{session_id}", content=content, headers=JSON)
    assert_refused(response, 422)
    assert response.json()["detail"].startswith("the body is not valid JSON")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


@pytest.mark.parametrize(
    "document",
    [
        ["hi"],
        "hi",
        42,
        None,
        {},
        {"text": "hi"},
        {"message": 42},
        {"message": None},
        {"message": ["hi"]},
    ],
    ids=[
        "array",
        "string",
        "number",
        "null",
        "empty-object",
        "other-key",
        "number-message",
        "null-message",
        "array-message",
    ],
)
async def test_json_that_is_not_an_object_with_a_string_message_is_422(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str, document: Any
) -> None:
    session_id = await new_session(client)
    response = await client.post(f"/chat/{session_id}", content=json.dumps(document), headers=JSON)
    assert_refused(response, 422, 'a JSON body must be an object: {"message": "..."}')
    await assert_nothing_stored(client, fake_model, database_url, session_id)


@pytest.mark.parametrize(
    "escaped", ["\\ud800", "a\\udc00b", "\\ude00\\ud83d"], ids=["high", "low", "reversed-pair"]
)
async def test_unpaired_surrogate_escapes_in_json_are_422(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str, escaped: str
) -> None:
    session_id = await new_session(client)
    content = '{"message": "' + escaped + '"}'
    response = await client.post(f"/chat/{session_id}", content=content, headers=JSON)
    assert_refused(response, 422, "the message contains unpaired surrogates")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


async def test_a_surrogate_pair_escape_in_json_is_one_character(
    client: httpx.AsyncClient, database_url: str
) -> None:
    session_id = await new_session(client)
    content = '{"message": "smile \\ud83d\\ude00"}'
    response = await client.post(f"/chat/{session_id}", content=content, headers=JSON)
    assert response.status_code == 200, response.text
    assert (await stored_turns(database_url, session_id))[0] == ("human", "smile 😀")


@pytest.mark.parametrize(
    "message",
    [
        "a\x00b",
        "\x00",
        "bell\x07",
        "\x1b[31mred\x1b[0m",
        "form\x0cfeed",
        "\x1f",
        "del\x7f",
        "next\x85line",
        "\x9b31mred",
    ],
    ids=[
        "nul",
        "only-nul",
        "bell",
        "ansi-escape",
        "form-feed",
        "unit-separator",
        "delete",
        "c1-next-line",
        "c1-csi",
    ],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["raw", "json"])
async def test_control_characters_are_422(
    client: httpx.AsyncClient,
    fake_model: FakeChatModel,
    database_url: str,
    message: str,
    as_json: bool,
) -> None:
    session_id = await new_session(client)
    content = json.dumps({"message": message}) if as_json else message
    response = await client.post(
        f"/chat/{session_id}", content=content, headers=JSON if as_json else {}
    )
    assert_refused(response, 422, "the message contains control characters")
    await assert_nothing_stored(client, fake_model, database_url, session_id)


@pytest.mark.parametrize(
    "message",
    ["two\nlines", "tab\tseparated", "windows\r\nline end", "  indented\n\ttrailing  \n"],
    ids=["newline", "tab", "crlf", "edges"],
)
@pytest.mark.parametrize("as_json", [False, True], ids=["raw", "json"])
async def test_tab_newline_and_carriage_return_are_stored_intact(
    client: httpx.AsyncClient, database_url: str, message: str, as_json: bool
) -> None:
    session_id = await new_session(client)
    content = json.dumps({"message": message}) if as_json else message
    response = await client.post(
        f"/chat/{session_id}", content=content, headers=JSON if as_json else {}
    )
    assert response.status_code == 200, response.text
    assert (await stored_turns(database_url, session_id))[0] == ("human", message)
    history = await client.get(f"/chat/{session_id}")
    assert history.json()[0]["content"] == message


async def test_errors_leave_an_ongoing_conversation_as_it_was(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    session_id = await new_session(client)
    assert "Bob" in await say(client, session_id, "Hi, my name is Bob!")
    before = await stored_turns(database_url, session_id)
    calls = len(fake_model.calls)
    bad: list[tuple[bytes | str, dict[str, str]]] = [
        ("", {}),
        ("x" * (LIMIT + 1), {}),
        (b"\xff", {}),
        ("{", JSON),
        ('{"message": "\\ud800"}', JSON),
        ("a\x00b", {}),
    ]
    for content, headers in bad:
        response = await client.post(f"/chat/{session_id}", content=content, headers=headers)
        assert 400 <= response.status_code < 500, response.text
    assert await stored_turns(database_url, session_id) == before
    assert len(fake_model.calls) == calls
    assert await say(client, session_id, "What's my name again?") == "Your name is Bob.\n"


async def test_json_body_larger_than_any_message_needs_is_413(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    # Every character escaped as \uXXXX is six bytes: past that and some room for the object
    # itself, the body cannot hold a message within the limit.
    limit = LIMIT * 6 + 1024
    session_id = await new_session(client)
    content = '{"message": "hi"}' + " " * limit
    response = await client.post(f"/chat/{session_id}", content=content, headers=JSON)
    assert_refused(
        response,
        413,
        f"the JSON body is larger than {limit} bytes: "
        f"more than a message of at most {LIMIT} bytes needs",
    )
    await assert_nothing_stored(client, fake_model, database_url, session_id)


async def test_a_body_cut_off_midway_is_no_server_error(
    client: httpx.AsyncClient, fake_model: FakeChatModel, database_url: str
) -> None:
    seen = _Records()
    server_log, access_log = (
        logging.getLogger("uvicorn.error"),
        logging.getLogger("chat_server.access"),
    )
    server_log.addHandler(seen)
    access_log.addHandler(seen)
    level = access_log.level
    access_log.setLevel(logging.INFO)
    try:
        session_id = await new_session(client)
        url = httpx.URL(str(client.base_url))
        reader, writer = await asyncio.open_connection(url.host, url.port)
        writer.write(
            f"POST /chat/{session_id} HTTP/1.1\r\nHost: {url.host}\r\n"
            "Content-Length: 100\r\n\r\nonly part of it".encode()
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()

        # The server notices the closed connection while it waits for the rest of the body,
        # and the request's access line says how it ended.
        async def answered() -> bool:
            return any(f"POST /chat/{session_id}" in r.getMessage() for r in seen.records)

        await eventually(answered)
    finally:
        server_log.removeHandler(seen)
        access_log.removeHandler(seen)
        access_log.setLevel(level)
    assert [r.getMessage() for r in seen.records if r.levelno >= logging.ERROR] == []
    await assert_nothing_stored(client, fake_model, database_url, session_id)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
