"""Browser pages of other sites may not change anything here.

LangGraph bodies are read as JSON whatever their Content-Type, so a page on any site could make its
visitor's browser POST a "simple" text/plain request (no preflight) to a server on 127.0.0.1 and run
a turn with it. Such a request carries an `Origin`, which the page cannot forge: a request that may
change state is refused when its origin is neither this server's own nor one allowed for CORS.
Requests without an `Origin` (curl, the SDKs, any non-browser client) are not a browser's, and pass.

A WebSocket gets no CORS check from the browser at all, and may change state (the thread protocol
starts runs on it): its handshake is held to the same rule, and refused before it is accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.cors import browser_origins

# Reads and preflights change nothing, and CORS keeps other sites from reading the answers.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# A page's origin is http(s) even when the URL it opens a socket to is ws(s).
_PAGE_SCHEMES = {"ws": "http", "wss": "https"}


def _origin(scheme: str, netloc: str) -> str | None:
    """`scheme://host[:port]` spelt one way (lower case, no default port); None if malformed."""
    try:
        split = urlsplit(f"{scheme}://{netloc}")
        port = split.port
    except ValueError:
        return None
    if not split.hostname or "@" in netloc:
        return None
    host = f"[{split.hostname}]" if ":" in split.hostname else split.hostname
    scheme = scheme.lower()
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _own_origin(scope: Scope, headers: Headers) -> str | None:
    host = headers.get("host")
    scheme: str = scope["scheme"]
    scheme = _PAGE_SCHEMES.get(scheme, scheme)
    return _origin(scheme, host) if host else None


def _normalized(origin: str) -> str | None:
    split = urlsplit(origin)
    if split.path or split.query or split.fragment:
        return None
    return _origin(split.scheme, split.netloc)


def _guarded(scope: Scope) -> bool:
    if scope["type"] == "websocket":
        return True
    return scope["type"] == "http" and scope["method"] not in SAFE_METHODS


class CrossSiteGuard:
    """Refuses, with a 403, a state-changing request or a WebSocket from a foreign origin
    before it runs."""

    def __init__(self, app: ASGIApp, allowed_origins: Iterable[str]) -> None:
        self.app = app
        allowed = set(allowed_origins)
        self.any_origin = "*" in allowed
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _guarded(scope):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None or self._allows(origin, scope, headers):
            await self.app(scope, receive, send)
            return
        detail = (
            f"a page of {origin} may not change anything on this server: only its own pages, "
            "LangGraph Studio and the origins in CORS_ORIGINS may"
        )
        if scope["type"] == "websocket" and "websocket.http.response" not in scope.get(
            "extensions", {}
        ):
            # A close before the accept: the server answers the handshake with a bare 403.
            await send({"type": "websocket.close", "code": 1008, "reason": ""})
            return
        await JSONResponse({"detail": detail}, 403)(scope, receive, send)

    def _allows(self, origin: str, scope: Scope, headers: Headers) -> bool:
        if self.any_origin or origin in self.allowed:
            return True
        # The browser's own word that the page is of the URL it calls: it holds behind a proxy
        # that rewrites Host or terminates TLS, where comparing with the Host header fails.
        if headers.get("sec-fetch-site") == "same-origin":
            return True
        own = _own_origin(scope, headers)
        return own is not None and _normalized(origin) == own


def refuse_cross_site(app: FastAPI, origins: tuple[str, ...]) -> None:
    """Guards `app` against pages of any origin but its own, Studio's and `origins`."""
    app.add_middleware(CrossSiteGuard, allowed_origins=browser_origins(origins))
