"""What the conversation service tells whoever watches its turns (the metrics, the access log):
a protocol it is handed, so that it needs to know nothing of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol
from uuid import UUID

# How a turn ended. `rejected`: it never ran (no such session, busy, a stale checkpoint).
Outcome = Literal[
    "completed", "rejected", "cancelled", "failed_before_first_token", "failed_mid_reply"
]


class TurnObserver(Protocol):
    def locked(self) -> None:
        """The turn holds its session's lock."""

    def token(self) -> None:
        """A token of the reply was streamed."""

    def end(self, outcome: Outcome, error: BaseException | None = None) -> None:
        """The turn is over; called once, before its client hears how it ended."""


# Makes the observer of each turn, given its session's id.
ObserveTurn = Callable[[UUID], TurnObserver]


class _Unobserved:
    def locked(self) -> None:
        pass

    def token(self) -> None:
        pass

    def end(self, outcome: Outcome, error: BaseException | None = None) -> None:
        pass


def unobserved(_session_id: UUID) -> TurnObserver:
    return _Unobserved()
