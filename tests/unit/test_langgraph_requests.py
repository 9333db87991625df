"""Which thread metadata a LangGraph client may send: what PostgreSQL's jsonb keeps and the
server can write back as JSON, and a 422 that says why for the rest."""

from __future__ import annotations

import json
from typing import Any, get_args

import orjson
import pytest
from fastapi import HTTPException
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

from api.routes.langgraph.requests import (
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    ThreadCreate,
    ThreadCreateBody,
    ThreadPatch,
    ThreadSearch,
    _storable,
)
from api.settings import Settings

NUL = "text may not contain the NUL character"
SURROGATES = "text may not contain unpaired surrogates"
INT64 = "integers must fit in 64 bits"
FLOATS = "numbers must be finite and smaller than 2**63 in magnitude"

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.text(st.characters(exclude_categories=()), max_size=8),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.text(st.characters(exclude_categories=()), max_size=4), inner, max_size=3
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None, derandomize=True, database=None)
@given(value=_JSON)
def test_what_is_accepted_is_written_back_as_it_was_sent(value: Any) -> None:
    try:
        kept = _storable(value)
    except ValueError as refused:
        assert str(refused) in {NUL, SURROGATES, INT64, FLOATS}
        return
    assert kept is value
    written = orjson.dumps(value)
    # jsonb refuses the escaped NUL character that JSON allows.
    assert b"\\u0000" not in written
    assert orjson.loads(written) == value


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"note": "a\x00b"}, NUL),
        ({"a\x00": 1}, NUL),
        ({"deep": [{"deeper": ["\x00"]}]}, NUL),
        ({"note": "\ud800"}, SURROGATES),
        ({"\udc00": "key"}, SURROGATES),
        ({"n": 2**63}, INT64),
        ({"n": -(2**63) - 1}, INT64),
        ({"ns": [1, 2, 10**30]}, INT64),
    ],
)
@pytest.mark.parametrize("body", [ThreadCreate, ThreadPatch, ThreadSearch])
def test_each_metadata_body_refuses_what_jsonb_cannot_keep(
    body: type[ThreadCreate | ThreadPatch | ThreadSearch], metadata: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        body.model_validate({"metadata": metadata})


def test_the_limits_of_64_bits_and_of_text_are_accepted() -> None:
    metadata = {
        "least": -(2**63),
        "most": 2**63 - 1,
        "flag": True,
        "none": None,
        "text": "tab\t, newline\n, emoji 😀, \u0001",
        "nested": {"list": [1.5, "x", {"y": False}]},
    }
    assert ThreadCreate.model_validate({"metadata": metadata}).metadata == metadata


def _request(body: bytes) -> Request:
    sent = [body]

    async def receive() -> Message:
        return {"type": "http.request", "body": sent.pop() if sent else b"", "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/threads", "query_string": b""}
    return Request({**scope, "headers": [(b"content-type", b"application/json")]}, receive)


async def _read_thread_create(body: bytes) -> ThreadCreate:
    """The body as the route receives it (FastAPI calls this dependency)."""
    read = get_args(ThreadCreateBody)[1].dependency
    settings = Settings(_env_file=None, database_url=None)  # type: ignore[call-arg]
    return await read(_request(body), settings)


async def test_the_client_is_told_which_field_and_why() -> None:
    body = json.dumps({"metadata": {"note": "a\x00b"}}).encode()
    with pytest.raises(HTTPException) as refused:
        await _read_thread_create(body)
    assert refused.value.status_code == 422
    assert refused.value.detail == f"metadata: Value error, {NUL}"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e300", "9.3e18"])
async def test_numbers_jsonb_cannot_write_back_are_refused(number: str) -> None:
    body = f'{{"metadata": {{"x": {number}}}}}'.encode()
    with pytest.raises(HTTPException) as refused:
        await _read_thread_create(body)
    assert refused.value.status_code == 422
    assert refused.value.detail == f"metadata: Value error, {FLOATS}"


async def test_metadata_nested_too_deep_is_refused() -> None:
    deep: dict[str, Any] = {}
    for _ in range(MAX_METADATA_DEPTH):
        deep = {"x": deep}
    await _read_thread_create(json.dumps({"metadata": deep["x"]}).encode())
    with pytest.raises(HTTPException) as refused:
        await _read_thread_create(json.dumps({"metadata": deep}).encode())
    assert refused.value.status_code == 422
    assert "at most 32 levels deep" in refused.value.detail


async def test_metadata_too_large_is_refused() -> None:
    fits = {"note": "x" * (MAX_METADATA_BYTES - 20)}
    await _read_thread_create(json.dumps({"metadata": fits}).encode())
    with pytest.raises(HTTPException) as refused:
        await _read_thread_create(
            json.dumps({"metadata": {"note": "x" * MAX_METADATA_BYTES}}).encode()
        )
    assert refused.value.status_code == 422
    assert f"at most {MAX_METADATA_BYTES} bytes" in refused.value.detail
