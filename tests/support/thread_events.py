"""A reader of POST /threads/{id}/stream/events as plain HTTP: each event's SSE frame, up to
the end of a run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

ENDINGS = {"completed", "failed", "interrupted"}
# Every channel a turn records events in: a stream of them all sees every seq.
RECORDED = ["lifecycle", "checkpoints", "messages", "values", "updates"]


@dataclass(frozen=True)
class Frame:
    event: str
    data: dict[str, Any]
    id: str | None

    @property
    def ends_run(self) -> bool:
        return self.event == "lifecycle" and self.data["params"]["data"]["event"] in ENDINGS


async def _frames(response: httpx.Response) -> AsyncIterator[Frame | str]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(":"):
            yield line
        elif line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        elif fields:
            yield Frame(fields["event"], json.loads(fields["data"]), fields.get("id"))
            fields = {}


@asynccontextmanager
async def thread_stream(
    http: httpx.AsyncClient, thread_id: str, **body: Any
) -> AsyncIterator[AsyncIterator[Frame | str]]:
    """The open stream's frames (and comments, as strings), as they come, once the server
    follows the thread."""
    body.setdefault("channels", RECORDED)
    async with http.stream(
        "POST",
        f"/threads/{thread_id}/stream/events",
        json=body,
        headers={"Accept": "text/event-stream"},
    ) as response:
        assert response.status_code == 200, await response.aread()
        frames = _frames(response)
        first = await anext(frames)
        yield _after(first, frames)


async def _after(
    first: Frame | str, frames: AsyncIterator[Frame | str]
) -> AsyncIterator[Frame | str]:
    # The first comment says the stream is followed: a run started after it is missed by none.
    if not isinstance(first, str):
        yield first
    async for frame in frames:
        yield frame


async def until_run_ends(frames: AsyncIterator[Frame | str]) -> list[Frame]:
    """The frames up to the end of a run (or an error), without the comments."""
    read = []
    async for frame in frames:
        if isinstance(frame, str):
            continue
        read.append(frame)
        if frame.ends_run or frame.event == "error":
            return read
    raise AssertionError(f"the stream ended before its run: {read}")


async def start_run(http: httpx.AsyncClient, thread_id: str, text: str) -> dict[str, Any]:
    response = await http.post(
        f"/threads/{thread_id}/commands",
        json={
            "id": 1,
            "method": "run.start",
            "params": {
                "assistant_id": "chat",
                "input": {"messages": [{"role": "user", "content": text}]},
            },
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == "success", body
    return body
