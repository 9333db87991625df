"""Raw request bodies of every shape a client could send to the LangGraph API, valid JSON or
not quite (NaN, Infinity, numbers past 64 bits, nesting hundreds deep, blocks of the wrong
type): never a 5xx, and the thread list still answers afterwards. Schemathesis generates from
the schema, so it never sends these."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([1e300, -1e300, 2**63, -(2**63) - 1, 9.3e18]),
)
_SCALARS = st.one_of(st.none(), st.booleans(), _NUMBERS, st.text(max_size=12))
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def _deep(draw: st.DrawFn) -> Any:
    value: Any = draw(_SCALARS)
    for _ in range(draw(st.integers(min_value=20, max_value=400))):
        value = {"x": value} if draw(st.booleans()) else [value]
    return value


_BLOCK = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": _JSON}),
    st.fixed_dictionaries({"type": st.text(max_size=8)}, optional={"text": _JSON}),
    _JSON,
)
_MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "human", "ai", "system", "tool", ""])},
    optional={
        "content": st.one_of(st.text(max_size=20), st.lists(_BLOCK, max_size=3), _JSON),
        "id": _JSON,
        "type": st.sampled_from(["human", "ai", "text"]),
    },
)
_RUN = st.fixed_dictionaries(
    {"assistant_id": st.sampled_from(["chat", "nope"])},
    optional={
        "input": st.one_of(
            st.fixed_dictionaries({"messages": st.lists(_MESSAGE, max_size=3)}), _JSON
        ),
        "metadata": st.one_of(_JSON, _deep()),
        "stream_mode": _JSON,
        "if_not_exists": st.sampled_from(["create", "reject", 5]),
    },
)
_THREAD = st.fixed_dictionaries(
    {}, optional={"metadata": st.one_of(_JSON, _deep()), "thread_id": _JSON, "if_exists": _JSON}
)
_SEARCH = st.fixed_dictionaries(
    {},
    optional={
        "metadata": st.one_of(_JSON, _deep()),
        "limit": _NUMBERS,
        "offset": _NUMBERS,
        "sort_by": _JSON,
        "status": _JSON,
    },
)

_EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check_route(
    http: httpx.Client, method: str, path: str, bodies: st.SearchStrategy[Any]
) -> None:
    @_EXAMPLES
    @given(body=bodies)
    def check(body: Any) -> None:
        # Python's json writes NaN and Infinity as bare words, as careless clients do.
        raw = json.dumps(body, allow_nan=True)
        response = http.request(method, path, content=raw)
        assert response.status_code < 500, (method, path, raw[:300], response.text)

    check()


def _send_all(base_url: str) -> None:
    """Blocking, so that it runs beside the server's loop."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        _check_route(http, "POST", "/threads", _THREAD)
        _check_route(http, "PATCH", f"/threads/{thread_id}", _THREAD)
        _check_route(http, "POST", "/threads/search", _SEARCH)
        _check_route(http, "POST", f"/threads/{thread_id}/runs/wait", _RUN)
        _check_route(http, "POST", "/runs/wait", _RUN)
        assert http.post("/threads/search", json={"limit": 100}).status_code == 200
        assert http.get(f"/threads/{thread_id}").status_code == 200


async def test_no_raw_body_gets_a_server_error(client: httpx.AsyncClient) -> None:
    await asyncio.to_thread(_send_all, str(client.base_url).rstrip("/"))
