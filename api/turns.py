from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from uuid import UUID

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph.state import CompiledStateGraph

from graph import MODEL_NODE


@dataclass(frozen=True)
class Token:
    content: str


@dataclass(frozen=True)
class Reply:
    """The whole reply, once it is saved."""

    message_id: str


TurnEvent = Token | Reply


def thread_config(session_id: UUID) -> dict[str, dict[str, str]]:
    return {"configurable": {"thread_id": str(session_id)}}


async def run_turn(
    graph: CompiledStateGraph, session_id: UUID, message: str
) -> AsyncIterator[TurnEvent]:
    """Runs one turn of a session: its reply token by token, then the saved reply."""
    reply_id: str | None = None
    async for event in graph.astream_events(
        {"messages": [HumanMessage(message)]},
        thread_config(session_id),  # type: ignore[arg-type]
        version="v2",
    ):
        if event["metadata"].get("langgraph_node") != MODEL_NODE:
            continue
        if event["event"] == "on_chat_model_stream":
            # Role, finish and usage chunks carry no text.
            if text := event["data"]["chunk"].text:
                yield Token(text)
        elif event["event"] == "on_chat_model_end":
            output: BaseMessage = event["data"]["output"]
            reply_id = output.id
    assert reply_id is not None, "the model node ended without a reply"
    yield Reply(reply_id)
