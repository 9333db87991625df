"""Browser clients: LangGraph Studio's origin, a configured one, and the preflights they send."""

from __future__ import annotations

import httpx
import pytest

from tests.support.origins import CHAT_UI, STUDIO


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
        "Access-Control-Request-Private-Network": "true",
    }


@pytest.mark.parametrize("origin", [STUDIO, "https://eu.smith.langchain.com", CHAT_UI])
async def test_preflights_from_allowed_origins(http: httpx.AsyncClient, origin: str) -> None:
    response = await http.options("/threads/search", headers=_preflight(origin))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-private-network"] == "true"
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "x-api-key" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_a_preflight_from_another_origin_is_refused(http: httpx.AsyncClient) -> None:
    response = await http.options("/threads/search", headers=_preflight("https://evil.example"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["access-control-allow-private-network"] == "true"


async def test_responses_expose_the_headers_the_sdks_read(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/threads/search", headers={"Origin": STUDIO}, json={"metadata": {"graph_id": "chat"}}
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == STUDIO
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {"content-location", "location", "x-pagination-total"} <= exposed


async def test_json_bodies_are_read_whatever_their_content_type(http: httpx.AsyncClient) -> None:
    # LangGraph Studio posts its JSON as text/plain.
    response = await http.post(
        "/assistants/search",
        content=b'{"limit": 10, "offset": 0, "metadata": {"created_by": "system"}}',
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )
    assert response.status_code == 200
    assert [a["graph_id"] for a in response.json()] == ["chat"]
