from __future__ import annotations

import argparse
import math
import sys

import psycopg
import uvicorn
from pydantic import ValidationError

from api.observability.logs import log_config
from api.observability.metrics import shared_directory
from api.observability.tracing import export_tracing_settings
from api.settings import Settings, get_settings
from api.store.database import redacted


def _parse_args(settings: Settings, argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="chat-server", description="Run the chat server (settings come from the environment)."
    )
    parser.add_argument("--host", default=settings.host, help="default: HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.port, help="default: PORT or 8000")
    parser.add_argument(
        "--workers", type=int, default=1, help="server processes sharing the port (default: 1)"
    )
    return parser.parse_args(argv)


def _check_database(settings: Settings) -> None:
    """Fails in one line, before the server starts, when DATABASE_URL cannot be reached."""
    if settings.database_url is None:
        return
    url = settings.database_url.get_secret_value()
    try:
        timeout = max(1, round(settings.db_connect_timeout_seconds))
        psycopg.connect(url, connect_timeout=timeout).close()
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        try:
            where = redacted(url)
        except psycopg.Error:
            where = "DATABASE_URL (not a valid connection string)"
        sys.exit(f"chat-server: cannot connect to PostgreSQL at {where}: {reason}")


def _problem(loc: tuple[int | str, ...], message: str) -> str:
    # A check of several settings together has no one setting to name.
    return f"{'.'.join(map(str, loc)).upper()}: {message}" if loc else message


def main(argv: list[str] | None = None) -> None:
    try:
        settings = get_settings()
    except ValidationError as error:
        problems = "; ".join(_problem(e["loc"], e["msg"]) for e in error.errors())
        sys.exit(f"chat-server: invalid settings: {problems}")
    if not settings.model_configured:
        sys.exit(
            "chat-server: no model configured: set OPENAI_API_KEY (for OpenAI) or "
            "OPENAI_BASE_URL (for an OpenAI-compatible server), in the environment or in .env"
        )
    args = _parse_args(settings, argv)
    _check_database(settings)
    export_tracing_settings(settings)
    with shared_directory(args.workers):
        uvicorn.run(
            "api.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=log_config(settings.log_level, settings.log_format),
            log_level=settings.log_level,
            # The app writes one access line per request, with its request id.
            access_log=False,
            # Open responses (streamed replies) get this long once the server is told to stop
            # (in whole seconds, as uvicorn types it).
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
            # A worker answers its supervisor's pings only once it has imported the app (LangChain
            # and all): on a busy 2-core machine that took over uvicorn's default 5 s, and the
            # worker was killed and started again.
            timeout_worker_healthcheck=30,
        )
