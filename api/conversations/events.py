"""What a running turn reports, in order: accepted, the state, the reply's tokens, and how it
ended (`Reply` or `Failure`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessageChunk

from api.conversations.failures import Failure


@dataclass(frozen=True)
class Queued:
    """The turn waits for another turn of its session to end, then runs (unless the session is
    gone by then)."""


@dataclass(frozen=True)
class Accepted:
    """The turn holds its session's lock and will run: nothing can refuse it any more. It
    runs from `started_from` (None: a session's first turn), with `inputs` new messages."""

    started_from: str | None = None
    inputs: int = 0


@dataclass(frozen=True)
class Values:
    """The whole state: once with the user's message in it, once more with the reply."""

    values: dict[str, Any]


@dataclass(frozen=True)
class Checkpointed:
    """A checkpoint the turn wrote (held back until its save): the protocol's `checkpoints`."""

    id: str
    parent_id: str | None
    step: int
    source: str


@dataclass(frozen=True)
class Update:
    """What a node of the graph wrote."""

    node: str
    values: dict[str, Any]


@dataclass(frozen=True)
class Token:
    """A chunk of the reply as the model streamed it. `content` is its text: empty for the
    chunks that carry none (the first, with the role; the last ones, with why the reply ended
    and any usage), which only the clients that take chunks whole are sent."""

    content: str
    # The model's chunk and the graph's metadata about it, for clients that want them whole.
    chunk: AIMessageChunk
    metadata: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Reply:
    """The whole reply, once it is saved."""

    message_id: str


TurnEvent = Queued | Accepted | Checkpointed | Values | Update | Token | Reply | Failure
