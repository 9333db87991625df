"""The rules every message keeps, and how a request's body becomes the message, on requests
made in memory (the HTTP tests send the same bodies over a socket)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable

import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

from api.request_body import check_message, read_json, read_message

EMPTY = (422, "the message is empty")
CONTROL = (422, "the message contains control characters")
SURROGATES = (422, "the message contains unpaired surrogates")


def _too_large(max_bytes: int) -> tuple[int, str]:
    return 413, f"the message is larger than {max_bytes} bytes"


def _refusal(refused: pytest.ExceptionInfo[HTTPException]) -> tuple[int, str]:
    return refused.value.status_code, str(refused.value.detail)


def _broken_rules(message: str, max_bytes: int) -> set[tuple[int, str]]:
    """The refusals `message` deserves, from Unicode's own categories."""
    if any(unicodedata.category(c) == "Cs" for c in message):
        return {SURROGATES}
    broken = set()
    if len(message.encode("utf-8")) > max_bytes:
        broken.add(_too_large(max_bytes))
    # Cc is C0, DEL and C1; tab, newline and carriage return are text.
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in message):
        broken.add(CONTROL)
    if not message.strip():
        broken.add(EMPTY)
    return broken


_CHARACTERS = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from("\t\n\r \x00\x1b\x7f\x85\x9f\u00a0\u2028\u3000\ud800\udc00é😀"),
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(message=st.text(_CHARACTERS, max_size=24), max_bytes=st.integers(1, 48))
def test_a_message_is_refused_exactly_when_it_breaks_a_rule(message: str, max_bytes: int) -> None:
    broken = _broken_rules(message, max_bytes)
    if not broken:
        assert check_message(message, max_bytes) == message
        return
    with pytest.raises(HTTPException) as refused:
        check_message(message, max_bytes)
    assert _refusal(refused) in broken


@pytest.mark.parametrize(
    ("message", "accepted"),
    [("x" * 16, True), ("x" * 17, False), ("é" * 8, True), ("é" * 9, False), ("😀" * 4, True)],
)
def test_the_limit_counts_utf8_bytes(message: str, accepted: bool) -> None:
    if accepted:
        assert check_message(message, 16) == message
    else:
        with pytest.raises(HTTPException) as refused:
            check_message(message, 16)
        assert _refusal(refused) == _too_large(16)


def _request(
    chunks: Iterable[bytes], headers: dict[str, str] | None = None, *, cut_off: bool = False
) -> Request:
    """A POST whose body arrives in `chunks`; with `cut_off`, the client leaves before the end."""
    pending = list(chunks)

    async def receive() -> Message:
        if not pending:
            return {"type": "http.disconnect"}
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": cut_off or bool(pending)}

    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b""}
    return Request({**scope, "headers": raw_headers}, receive)


JSON = {"Content-Type": "application/json"}


async def test_a_plain_body_is_the_message_as_sent() -> None:
    text = '  two\nlines\tand {"message": "not parsed"}  '
    assert await read_message(_request([text.encode()]), 1024) == text


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON; charset=utf-8", " application/json ;charset=UTF-8"],
)
async def test_a_json_body_carries_the_message(content_type: str) -> None:
    body = json.dumps({"message": "über café", "other": 1}).encode()
    request = _request([body], {"Content-Type": content_type})
    assert await read_message(request, 1024) == "über café"


async def test_a_json_body_may_start_with_a_byte_order_mark() -> None:
    body = "\ufeff".encode() + b'{"message": "hi"}'
    assert await read_message(_request([body], JSON), 1024) == "hi"


async def test_a_json_surrogate_pair_is_one_character_and_a_lone_one_is_refused() -> None:
    pair = _request([b'{"message": "smile \\ud83d\\ude00"}'], JSON)
    assert await read_message(pair, 1024) == "smile 😀"
    with pytest.raises(HTTPException) as refused:
        await read_message(_request([b'{"message": "\\ud800"}'], JSON), 1024)
    assert _refusal(refused) == SURROGATES


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async def receive() -> Message:
        raise AssertionError("the body was read")

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b""}
    request = Request({**scope, "headers": [(b"content-length", b"17")]}, receive)
    with pytest.raises(HTTPException) as refused:
        await read_message(request, 16)
    assert _refusal(refused) == _too_large(16)
    assert refused.value.headers == {"Connection": "close"}


async def test_reading_stops_once_a_body_is_over_the_limit() -> None:
    delivered = 0

    async def endless() -> Message:
        # Endless but for a last chunk far past the limit, so that a reader that never stops
        # fails the test instead of hanging it.
        nonlocal delivered
        delivered += 10
        return {"type": "http.request", "body": b"x" * 10, "more_body": delivered < 100_000}

    scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": []}
    with pytest.raises(HTTPException) as refused:
        await read_message(Request(scope, endless), 100)
    assert _refusal(refused) == _too_large(100)
    assert refused.value.headers == {"Connection": "close"}
    assert delivered <= 110


async def test_a_json_body_may_be_larger_than_its_message_but_not_without_end() -> None:
    # Every character of the message may be a six-byte escape: 16 bytes of é are 48 escapes.
    escaped = json.dumps({"message": "é" * 8}, ensure_ascii=True)
    assert await read_message(_request([escaped.encode()], JSON), 16) == "é" * 8
    body = b'{"message": "hi"}' + b" " * (16 * 6 + 1024)
    with pytest.raises(HTTPException) as refused:
        await read_message(_request([body], JSON), 16)
    limit = 16 * 6 + 1024
    assert _refusal(refused) == (
        413,
        f"the JSON body is larger than {limit} bytes: "
        "more than a message of at most 16 bytes needs",
    )


@pytest.mark.parametrize("headers", [{}, JSON], ids=["plain", "json"])
@pytest.mark.parametrize("body", [b"caf\xe9", b"\xe2\x82", b"\xed\xa0\x80"])
async def test_a_body_that_is_not_utf8_is_400(body: bytes, headers: dict[str, str]) -> None:
    content = b'{"message": "' + body + b'"}' if headers else body
    with pytest.raises(HTTPException) as refused:
        await read_message(_request([content], headers), 1024)
    assert _refusal(refused) == (400, "the body is not valid UTF-8 text")


@pytest.mark.parametrize(
    "body",
    ["{", '{"message": "hi"} trailing', "{message: 'hi'}", "[" * 100_000],
    ids=["open-brace", "trailing", "unquoted", "deeply-nested"],
)
async def test_a_body_that_is_not_json_is_422(body: str) -> None:
    with pytest.raises(HTTPException) as refused:
        await read_message(_request([body.encode()], JSON), 32 * 1024)
    status, detail = _refusal(refused)
    assert status == 422
    assert detail.startswith("the body is not valid JSON: ")


NOT_A_MESSAGE = 'a JSON body must be an object: {"message": "..."}'


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('["hi"]', NOT_A_MESSAGE),
        ('"hi"', NOT_A_MESSAGE),
        ('{"text": "hi"}', NOT_A_MESSAGE),
        ('{"message": 42}', NOT_A_MESSAGE),
        ('{"message": null}', NOT_A_MESSAGE),
        ('{"message": " \\n\\t "}', EMPTY[1]),
        ('{"message": "a\\u0000b"}', CONTROL[1]),
    ],
    ids=["array", "string", "other-key", "number", "null", "blank", "nul"],
)
async def test_a_json_body_without_a_good_message_is_422(body: str, detail: str) -> None:
    with pytest.raises(HTTPException) as refused:
        await read_message(_request([body.encode()], JSON), 1024)
    assert _refusal(refused) == (422, detail)


async def test_a_body_cut_off_before_its_end_is_400() -> None:
    request = _request([b"only part"], {"Content-Length": "100"}, cut_off=True)
    with pytest.raises(HTTPException) as refused:
        await read_message(request, 1024)
    assert _refusal(refused) == (400, "the body was cut off before its end")


@pytest.mark.parametrize("body", [b"", b"  \n"])
async def test_an_empty_json_document_is_an_empty_object(body: bytes) -> None:
    # LangGraph clients send no body at all where nothing needs saying.
    assert await read_json(_request([body], {"Content-Type": "text/plain"}), 1024) == {}


async def test_a_json_document_is_read_whatever_its_content_type() -> None:
    # LangGraph Studio sends its JSON as text/plain.
    request = _request([b'{"limit": 3}'], {"Content-Type": "text/plain;charset=UTF-8"})
    assert await read_json(request, 1024) == {"limit": 3}
