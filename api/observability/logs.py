"""Log lines: readable text by default, one JSON object per line with LOG_FORMAT=json.

Every logger goes through one structlog formatter, which adds the time, the level, the logger's
name, the `extra` fields of the call and the id of the request being served, so lines that a
turn writes after its client has gone still carry the id of the request that started it.
An API key sent in a URL (`?api_key=`, as a browser's WebSocket must) is never written out.
"""

from __future__ import annotations

import re
import sys
from typing import Any, Literal

import structlog
from asgi_correlation_id import correlation_id
from structlog.typing import EventDict, WrappedLogger

LogFormat = Literal["text", "json"]

# uvicorn writes a WebSocket's path with its query string ("WebSocket /threads/…?api_key=…").
_KEY_IN_URL = re.compile(r"(\bapi_key=)[^&\s\"']*", re.IGNORECASE)


def _add_request_id(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    if (request_id := correlation_id.get()) is not None:
        event.setdefault("request_id", request_id)
    return event


def _drop_color_message(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    # uvicorn passes a coloured copy of some messages as an extra field.
    event.pop("color_message", None)
    return event


def _redact_keys(_logger: WrappedLogger, _name: str, event: EventDict) -> EventDict:
    for name, value in event.items():
        if isinstance(value, str) and "api_key=" in value.lower():
            event[name] = _KEY_IN_URL.sub(r"\1[redacted]", value)
    return event


def formatter(log_format: LogFormat) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler (named in the logging config, so workers build their own)."""
    renderer: list[Any]
    if log_format == "json":
        renderer = [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(),
        ]
    else:
        renderer = [
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
            )
        ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            _drop_color_message,
            _add_request_id,
            _redact_keys,
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def log_config(level: str, log_format: LogFormat) -> dict[str, Any]:
    """The `logging.config.dictConfig` of the server, as uvicorn applies it in every worker."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": f"{__name__}.formatter", "log_format": log_format}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        # Libraries speak at WARNING and above (httpx logs every request at INFO).
        "root": {"handlers": ["default"], "level": "WARNING"},
        "loggers": {
            "chat_server": {"level": level},
            "uvicorn": {"level": level},
            "asgi_correlation_id": {"level": level},
        },
    }
