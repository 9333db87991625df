from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.attachments import countable, for_model
from graph.model import ModelSettings, make_chat_model
from graph.state import ChatState

MODEL_NODE = "model"


@cache
def _settings_from_environment() -> ModelSettings:
    return ModelSettings()


@cache
def _model_from_environment() -> BaseChatModel:
    return make_chat_model(_settings_from_environment())


def context_window(
    messages: Sequence[BaseMessage], system_prompt: str | None, max_tokens: int
) -> list[BaseMessage]:
    """What the model is sent: the system prompt, then as much of the most recent conversation
    as fits in `max_tokens`, starting on a user message.

    What `trim_messages(strategy="last", start_on="human", include_system=True)` gives, found
    from the end so that a turn's cost does not grow with the conversation's length. A file
    counts as an image does, a fixed cost, not the characters of its base64.
    """
    prompt = [SystemMessage(system_prompt)] if system_prompt else []
    budget = max_tokens - count_tokens_approximately(prompt)
    start, used = len(messages), 0
    while start > 0:
        used += count_tokens_approximately([countable(messages[start - 1])])
        if used > budget:
            break
        start -= 1
    while start < len(messages) and messages[start].type != "human":
        start += 1
    return [*prompt, *messages[start:]]


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    model: BaseChatModel | None = None,
    settings: ModelSettings | None = None,
) -> CompiledStateGraph:
    """The chat graph: one node that answers the conversation so far.

    Without a model and settings, both come from the environment on the first turn, so
    importing the graph (as LangGraph Studio does) reads no settings.
    """

    async def call_model(state: ChatState, config: RunnableConfig) -> dict[str, list[BaseMessage]]:
        chat_model = model or _model_from_environment()
        current = settings or _settings_from_environment()
        window = context_window(
            state["messages"], current.system_prompt, current.max_context_tokens
        )
        reply = await chat_model.ainvoke(for_model(window), config)
        return {"messages": [reply]}

    builder = StateGraph(ChatState)
    builder.add_node(MODEL_NODE, call_model)
    builder.add_edge(START, MODEL_NODE)
    return builder.compile(checkpointer=checkpointer, name="chat")
