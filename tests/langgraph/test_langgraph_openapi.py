"""The LangGraph Server API routes against langgraph-api's own `openapi.json` (the one inside its
wheel, which `langgraph dev` serves): generated requests over real HTTP, no 5xx, and answers
whose bodies conform to the schemas published for them. Limited to the operations served here.
"""

from __future__ import annotations

import asyncio
import json
from importlib.metadata import distribution
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.http.test_openapi_conformance import _examples

CHECKS: list[CheckFunction] = [
    not_a_server_error,
    content_type_conformance,
    response_schema_conformance,
]
SERVED = [
    "GET /info",
    "GET /ok",
    "POST /assistants/search",
    "GET /assistants/{assistant_id}",
    "GET /assistants/{assistant_id}/graph",
    "GET /assistants/{assistant_id}/schemas",
    "GET /assistants/{assistant_id}/subgraphs",
    "POST /threads",
    "POST /threads/search",
    "GET /threads/{thread_id}",
    "PATCH /threads/{thread_id}",
    "DELETE /threads/{thread_id}",
    "GET /threads/{thread_id}/state",
    "GET /threads/{thread_id}/state/{checkpoint_id}",
    "POST /threads/{thread_id}/state",
    "POST /threads/{thread_id}/state/checkpoint",
    "GET /threads/{thread_id}/history",
    "POST /threads/{thread_id}/history",
    "POST /threads/{thread_id}/runs",
    "GET /threads/{thread_id}/runs",
    "GET /threads/{thread_id}/runs/{run_id}",
    "DELETE /threads/{thread_id}/runs/{run_id}",
    "POST /threads/{thread_id}/runs/{run_id}/cancel",
    "GET /threads/{thread_id}/runs/{run_id}/join",
    "GET /threads/{thread_id}/runs/{run_id}/stream",
    "POST /threads/{thread_id}/runs/stream",
    "POST /threads/{thread_id}/runs/wait",
    "POST /runs/stream",
    "POST /runs/wait",
    "POST /store/namespaces",
    "POST /store/items/search",
]
ASSISTANTS = ["chat", "eb6db400-e3c8-5d06-a834-015cb89efe69"]
# Its published schema says a list; langgraph-api itself answers {"namespaces": []}, and that is
# what LangGraph Studio reads, so that is what this server answers too.
AS_LANGGRAPH_API_ANSWERS = {"POST /store/namespaces"}


def _spec() -> dict[str, Any]:
    """langgraph-api's schema, allowing the nulls it writes itself in a state's tasks, where
    its schema says a string or an object: RemoteGraph reads those keys without looking first,
    so this server writes them as langgraph-api does."""
    files = distribution("langgraph-api").files or []
    [spec] = [f for f in files if str(f) == "openapi.json"]
    raw: dict[str, Any] = json.loads(Path(str(spec.locate())).read_text())
    task = raw["components"]["schemas"]["ThreadState"]["properties"]["tasks"]["items"]
    for key in ("error", "checkpoint", "state"):
        task["properties"][key] = {"anyOf": [task["properties"][key], {"type": "null"}]}
    return raw


def _live_thread(http: requests.Session, base_url: str) -> str:
    created = http.post(f"{base_url}/threads", json={}, timeout=30)
    created.raise_for_status()
    thread_id = created.json()["thread_id"]
    turn = http.post(
        f"{base_url}/threads/{thread_id}/runs/wait",
        json={"assistant_id": "chat", "input": {"messages": [{"role": "user", "content": "hi"}]}},
        timeout=30,
    )
    turn.raise_for_status()
    return thread_id


def _check(base_url: str, label: str) -> None:
    schema = schemathesis.openapi.from_dict(_spec())
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    with requests.Session() as http:
        thread_id = _live_thread(http, base_url)

        @_examples(15)
        @given(
            case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            live=st.booleans(),
            assistant=st.sampled_from(ASSISTANTS),
        )
        def check(case: Case, live: bool, assistant: str) -> None:
            params = case.path_parameters or {}
            # Random ids name nothing: half the cases go to a live thread and the one assistant.
            if live and "thread_id" in params:
                params["thread_id"] = thread_id
            if live and "assistant_id" in params:
                params["assistant_id"] = assistant
            checks = CHECKS[:1] if label in AS_LANGGRAPH_API_ANSWERS else CHECKS
            case.call_and_validate(base_url=base_url, session=http, checks=checks, timeout=30)

        check()


@pytest.mark.parametrize("label", SERVED)
async def test_langgraph_api_operations_answer_as_published(
    client: httpx.AsyncClient, label: str
) -> None:
    await asyncio.to_thread(_check, str(client.base_url).rstrip("/"), label)
