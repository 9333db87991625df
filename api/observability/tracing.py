"""LangSmith tracing, through the LangSmith SDK's own variables.

LangChain traces every run when LANGSMITH_TRACING is true, and LangGraph puts the thread id
(the session id) in each run's metadata, where LangSmith groups a conversation's runs into one
thread. Runs are sent from a background thread, so a slow or absent LangSmith never holds up a
reply; the only wait is at shutdown, and it is bounded here.
"""

from __future__ import annotations

import asyncio
import os

from langsmith.utils import tracing_is_enabled

from api.settings import Settings

# At shutdown, how long the runs not yet sent may take to reach LangSmith.
FLUSH_SECONDS = 5.0


def export_tracing_settings(settings: Settings) -> None:
    """Puts LangSmith settings read from `.env` into the environment, where the SDK reads them.

    Call it before the server starts its workers, which inherit the environment.
    """
    values = {
        "LANGSMITH_TRACING": "true" if settings.langsmith_tracing else None,
        "LANGSMITH_API_KEY": (
            settings.langsmith_api_key.get_secret_value() if settings.langsmith_api_key else None
        ),
        "LANGSMITH_ENDPOINT": settings.langsmith_endpoint,
        "LANGSMITH_PROJECT": settings.langsmith_project,
    }
    for name, value in values.items():
        if value is not None:
            os.environ.setdefault(name, value)
    # The SDK's sender thread would otherwise keep a stopping process alive for as long as an
    # unanswering LangSmith makes it wait (minutes); `flush_traces` gives it a bounded wait.
    os.environ.setdefault("LANGSMITH_USE_DAEMON", "true")


async def flush_traces(timeout: float = FLUSH_SECONDS) -> None:
    """Sends the runs LangSmith has not received yet, waiting `timeout` seconds at most."""
    if not tracing_is_enabled():
        return
    from langchain_core.tracers.langchain import get_client

    await asyncio.to_thread(get_client().flush, timeout)
