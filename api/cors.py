"""Cross-origin access for browser clients: LangGraph Studio, Agent Chat UI, a page of yours."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

# LangGraph Studio runs on these pages and calls the server from the browser.
STUDIO_ORIGINS = ("https://smith.langchain.com", "https://eu.smith.langchain.com")
# The SDKs read the run id from Content-Location and the page count from the pagination headers;
# the request id is for a page's own error reports.
EXPOSED_HEADERS = [
    "Content-Location",
    "Location",
    "X-Pagination-Total",
    "X-Pagination-Next",
    "X-Request-ID",
]


def browser_origins(configured: tuple[str, ...]) -> list[str]:
    """The origins whose pages may call the API: Studio's and CORS_ORIGINS."""
    return [*STUDIO_ORIGINS, *configured]


def add_cors(app: FastAPI, origins: tuple[str, ...]) -> None:
    app.add_middleware(
        CORSMiddleware,
        allow_origins=browser_origins(origins),
        # Keys travel in headers, never in cookies: no credentials mode (and "*" stays usable).
        allow_credentials=False,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
        # A preflight that asks may a page on https call this server on 127.0.0.1 or the local
        # network (Private Network Access, as Studio's does) is told yes.
        allow_private_network=True,
    )
