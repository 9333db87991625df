from __future__ import annotations

from functools import cache

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from graph.model import ModelSettings, make_chat_model
from graph.state import ChatState

MODEL_NODE = "model"


@cache
def _model_from_environment() -> tuple[BaseChatModel, str | None]:
    settings = ModelSettings()
    return make_chat_model(settings), settings.system_prompt


def build_graph(
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    model: BaseChatModel | None = None,
    system_prompt: str | None = None,
) -> CompiledStateGraph:
    """The chat graph: one node that answers the conversation so far.

    Without a model, the model and system prompt come from the environment on the first
    turn, so importing the graph (as LangGraph Studio does) reads no settings.
    """

    async def call_model(state: ChatState, config: RunnableConfig) -> dict[str, list[BaseMessage]]:
        chat_model, prompt = (model, system_prompt) if model else _model_from_environment()
        messages = list(state["messages"])
        if prompt:
            messages.insert(0, SystemMessage(prompt))
        reply = await chat_model.ainvoke(messages, config)
        return {"messages": [reply]}

    builder = StateGraph(ChatState)
    builder.add_node(MODEL_NODE, call_model)
    builder.add_edge(START, MODEL_NODE)
    return builder.compile(checkpointer=checkpointer, name="chat")
