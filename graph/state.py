from __future__ import annotations

from langgraph.graph import MessagesState


class ChatState(MessagesState):
    """The conversation: the whole message list, checkpointed after every turn."""
