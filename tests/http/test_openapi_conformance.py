"""The app against its own OpenAPI schema: generated requests over real HTTP, documented answers.

Schemathesis reads the `/openapi.json` that the running server serves and generates requests
from it: ones that fit the schema and, in negative mode, ones that break it. Every response must
be no 5xx, with a documented status code, content type and headers, and a body that conforms to
the schema documented for it. Each run is bounded and derandomized, so it is the same every time.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

_PATHS: dict[str, dict[str, Any]] = create_app().openapi()["paths"]
OPERATIONS = [f"{method.upper()} {path}" for path, item in _PATHS.items() for method in item]
# Negative mode needs an input to break: operations without any have no wrong request to make.
WITH_INPUTS = [
    f"{method.upper()} {path}"
    for path, item in _PATHS.items()
    for method, operation in item.items()
    if operation.get("parameters") or operation.get("requestBody")
]


def _examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        database=None,
        # Negative mode throws away the cases that its mutations fail to make invalid.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def _new_session(http: requests.Session, base_url: str) -> str:
    response = http.post(f"{base_url}/chat", headers={"Accept": "application/json"}, timeout=30)
    response.raise_for_status()
    return response.json()["session_id"]


def _check_operation(
    base_url: str, label: str, mode: GenerationMode, *, examples: int, live_sessions: bool
) -> None:
    """Runs the generated cases of one operation; blocking, so it runs beside the server's loop."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", timeout=30)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    with requests.Session() as http:
        # A random UUID names no session: with `live`, the case goes to a live one instead, so
        # that it gets past the 404 and its body is read.
        @_examples(examples)
        @given(case=operation.as_strategy(generation_mode=mode), live=st.booleans())
        def check(case: Case, live: bool) -> None:
            if live_sessions and live and "session_id" in (case.path_parameters or {}):
                case.path_parameters["session_id"] = _new_session(http, base_url)
            case.call_and_validate(base_url=base_url, session=http, checks=CHECKS, timeout=30)

        check()


def _base_url(client: httpx.AsyncClient) -> str:
    return str(client.base_url).rstrip("/")


@pytest.mark.parametrize("label", OPERATIONS)
async def test_valid_requests_get_documented_answers(client: httpx.AsyncClient, label: str) -> None:
    await asyncio.to_thread(
        _check_operation,
        _base_url(client),
        label,
        GenerationMode.POSITIVE,
        examples=25,
        live_sessions=True,
    )


@pytest.mark.parametrize("label", WITH_INPUTS)
async def test_invalid_requests_get_documented_answers(
    client: httpx.AsyncClient, label: str
) -> None:
    await asyncio.to_thread(
        _check_operation,
        _base_url(client),
        label,
        GenerationMode.NEGATIVE,
        examples=25,
        live_sessions=True,
    )


@pytest.mark.parametrize("label", OPERATIONS)
async def test_requests_without_a_key_get_documented_answers(keyed_url: str, label: str) -> None:
    # With API_KEYS set, none of the generated requests holds a key: the chat routes say 401.
    await asyncio.to_thread(
        _check_operation,
        keyed_url,
        label,
        GenerationMode.POSITIVE,
        examples=10,
        live_sessions=False,
    )
