"""What the metrics and the access line learn from a turn: how long it waited for its session,
its first token, its tokens, and how it ended."""

from __future__ import annotations

import logging
import time
from uuid import UUID

from api.conversations import Outcome
from api.conversations.failures import model_error_kind
from api.observability.access import Visit, current_visit

logger = logging.getLogger("chat_server.turns")


class TurnWatch:
    """A `TurnObserver`: told of one turn's progress, it records the turn's metrics and, for a
    turn that outlives its response (its client gone, or a background run), one log line when
    it ends. Without a request around it, it only counts."""

    def __init__(self, session_id: UUID, visit: Visit | None) -> None:
        self.session_id = session_id
        self.tokens = 0
        self.first_token_seconds: float | None = None
        self.outcome: Outcome | None = None
        self._visit = visit
        self._metrics = visit.metrics if visit is not None else None
        self._started = time.perf_counter()
        if visit is not None:
            visit.turn = self
        if self._metrics is not None:
            self._metrics.streams.inc()

    def locked(self) -> None:
        if self._metrics is not None:
            self._metrics.lock_wait_seconds.observe(time.perf_counter() - self._started)

    def token(self) -> None:
        self.tokens += 1
        if self.tokens == 1:
            self.first_token_seconds = time.perf_counter() - self._started
            if self._metrics is not None:
                self._metrics.first_token_seconds.observe(self.first_token_seconds)

    def end(self, outcome: Outcome, error: BaseException | None = None) -> None:
        self.outcome = outcome
        seconds = time.perf_counter() - self._started
        if (metrics := self._metrics) is not None:
            metrics.streams.dec()
            # Counted once a turn rather than once a token: each count is a write to the
            # metrics' shared files.
            metrics.tokens.inc(self.tokens)
            metrics.turns.labels(outcome).inc()
            if outcome != "rejected":
                metrics.turn_seconds.labels(outcome).observe(seconds)
            if error is not None and (kind := model_error_kind(error)) is not None:
                metrics.model_errors.labels(kind).inc()
        if self._visit is not None and self._visit.responded:
            # Its access line is written already: say how the turn ended, under the same id.
            logger.info(
                "turn on session %s ended %s after its response: %d tokens in %.1f s",
                self.session_id,
                outcome,
                self.tokens,
                seconds,
                extra={
                    "session_id": str(self.session_id),
                    "outcome": outcome,
                    "tokens": self.tokens,
                },
            )


def watch_turn(session_id: UUID) -> TurnWatch:
    """The observer of a turn, tied to the request that started it, if any."""
    return TurnWatch(session_id, current_visit.get())
