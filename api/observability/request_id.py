"""Every request gets an id: the client's `X-Request-ID` when it is a sane one, else a new one;
it is echoed in the response and put on every log line written while serving it."""

from __future__ import annotations

import re
from uuid import uuid4

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI

HEADER = "X-Request-ID"
# UUIDs, nginx's $request_id, trace ids and the like; nothing that could break a log line.
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")


def is_sane(request_id: str) -> bool:
    return _SANE.fullmatch(request_id) is not None


def add_request_ids(app: FastAPI) -> None:
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name=HEADER,
        generator=lambda: uuid4().hex,
        validator=is_sane,
    )
