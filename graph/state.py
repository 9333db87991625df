from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.channels.delta import DeltaChannel
from langgraph.graph.message import Messages, add_messages
from typing_extensions import TypedDict

# A full copy of the conversation is written once every this many updates of it (two a turn);
# in between, each turn writes only its own messages. Fewer copies, less written per turn;
# more, a shorter chain of turns to replay when a state is read from PostgreSQL.
SNAPSHOT_EVERY_UPDATES = 200


def append_all(messages: Messages, writes: Sequence[Messages]) -> Messages:
    """`add_messages` over a batch of writes at once: the same result as one write at a time,
    in one pass over the conversation instead of one per write."""
    batch = [m for write in writes for m in (write if isinstance(write, list) else [write])]
    return add_messages(messages, batch)


MESSAGES: DeltaChannel[list[AnyMessage]] = DeltaChannel(
    append_all, snapshot_frequency=SNAPSHOT_EVERY_UPDATES
)


class ChatState(TypedDict):
    """The conversation: the whole message list. Each turn stores only its own messages
    (LangGraph's DeltaChannel), so what a turn writes does not grow with the conversation."""

    messages: Annotated[list[AnyMessage], MESSAGES]


# The channels a checkpointer stores as deltas, by name: the store rebuilds them the same way.
DELTA_CHANNELS = {"messages": MESSAGES}
