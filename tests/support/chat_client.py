"""What a client of the chat API does, in the few forms the tests need."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx


async def new_session(http: httpx.AsyncClient) -> str:
    response = await http.post("/chat", headers={"Accept": "application/json"})
    assert response.status_code == 201, response.text
    return response.json()["session_id"]


async def say(http: httpx.AsyncClient, session_id: str, message: str) -> str:
    """Sends a message as curl does and returns the plain-text reply."""
    response = await http.post(f"/chat/{session_id}", content=message)
    assert response.status_code == 200, response.text
    return response.text


def parse_sse(body: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    # langgraph-api ends its lines with CRLF.
    for block in body.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Waits until `condition()` holds, failing after `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)
