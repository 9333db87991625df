"""The graph as LangGraph Studio and the LangGraph SDK reach it, through `langgraph dev`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

from tests.servers import free_port, server_environment

ROOT = Path(__file__).resolve().parent.parent
LANGGRAPH = str(Path(sys.executable).parent / "langgraph")


@pytest.fixture
async def langgraph_dev(openai_stub_url: str) -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        LANGGRAPH,
        "dev",
        "--no-browser",
        "--no-reload",
        "--port",
        str(port),
        cwd=ROOT,
        env=server_environment(OPENAI_BASE_URL=openai_stub_url, LANGSMITH_TRACING="false"),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http, asyncio.timeout(120):
            while True:
                try:
                    if (await http.get("/ok")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=60)


async def _reply(client: LangGraphClient, thread_id: str, text: str) -> str:
    tokens = []
    async for part in client.runs.stream(
        thread_id,
        "chat",
        input={"messages": [{"role": "user", "content": text}]},
        stream_mode="messages-tuple",
    ):
        if part.event == "messages":
            chunk, _metadata = part.data
            tokens.append(chunk.get("content") or "")
    return "".join(tokens)


async def test_langgraph_dev_serves_the_chat_graph_to_the_sdk(langgraph_dev: str) -> None:
    async with get_client(url=langgraph_dev) as client:
        thread = await client.threads.create()
        assert await _reply(client, thread["thread_id"], "Hi, my name is Bob!") == (
            "Hello Bob! It's nice to meet you. How can I help you today?"
        )
        assert await _reply(client, thread["thread_id"], "What's my name again?") == (
            "Your name is Bob."
        )
