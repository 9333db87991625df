"""The graph as LangGraph Studio and the LangGraph SDK reach it, through `langgraph dev`."""

from __future__ import annotations

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient


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
