"""The chat graph. Knows nothing of HTTP; the API builds it with its own checkpointer."""

from graph.builder import MODEL_NODE, build_graph
from graph.model import ModelSettings, make_chat_model
from graph.state import DELTA_CHANNELS

# For LangGraph Studio (`langgraph.json`): it supplies the checkpointer itself.
graph = build_graph()

__all__ = [
    "DELTA_CHANNELS",
    "MODEL_NODE",
    "ModelSettings",
    "build_graph",
    "graph",
    "make_chat_model",
]
