"""One access line per request, and the HTTP metrics, written when its response has ended."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.observability.metrics import Metrics

if TYPE_CHECKING:
    from api.observability.turn_watch import TurnWatch

logger = logging.getLogger("chat_server.access")


@dataclass
class Visit:
    """One request as it is served: the turn it started, if any, fills in its part."""

    metrics: Metrics
    turn: TurnWatch | None = None
    # Its access line is written: a turn that ends later has outlived its response.
    responded: bool = False
    # The response broke off before its last byte (the client went away, or the server
    # stopped it).
    cut_short: bool = False


# A turn's task copies the context of the request that started it, and so sees its visit.
current_visit: ContextVar[Visit | None] = ContextVar("current_visit", default=None)


def _route(scope: Scope) -> str:
    # The template (`/chat/{session_id}`), never the path itself: one series per route.
    return getattr(scope.get("route"), "path", None) or "unmatched"


class AccessLog:
    """ASGI middleware: the access line and the request metrics of every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        visit = Visit(self.metrics)
        reset = current_visit.set(visit)
        started = time.perf_counter()
        status: int | None = None
        recorded = False

        def record(status: int) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                self._record(scope, status, time.perf_counter() - started, visit)
                visit.responded = True

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Before the last byte goes: a client that has the whole response can count on
                # finding the request in the metrics.
                assert status is not None
                record(status)
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            current_visit.reset(reset)
            if not recorded:
                # The response broke off (the client went away, the server stopped it), or
                # never started: the app failed, and the server answers 500 for it.
                visit.cut_short = status is not None
                record(status or 500)

    def _record(self, scope: Scope, status: int, seconds: float, visit: Visit) -> None:
        method, path, route = scope["method"], scope["path"], _route(scope)
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.request_seconds.labels(method, route).observe(seconds)
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 1),
        }
        if client := scope.get("client"):
            fields["client"] = client[0]
        if visit.cut_short:
            fields["cut_short"] = True
        if turn := visit.turn:
            fields["session_id"] = str(turn.session_id)
            fields["tokens"] = turn.tokens
            if turn.first_token_seconds is not None:
                fields["ttft_ms"] = round(turn.first_token_seconds * 1000, 1)
        logger.info("%s %s %s", method, path, status, extra=fields)
