"""`GET /metrics`: Prometheus' text format, for the operator's METRICS_API_KEY, no tenant's."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth import api_key_header, bearer
from api.deps import SettingsDep
from api.observability.metrics import Metrics

SEND_THE_KEY = "send METRICS_API_KEY as Authorization: Bearer <key> or X-Api-Key"
CLOSED = (
    "/metrics is closed while API_KEYS is set: it shows every key's figures, so no key of "
    "API_KEYS opens it. Set METRICS_API_KEY and " + SEND_THE_KEY + ", or set METRICS_PUBLIC=true"
)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, {"WWW-Authenticate": "Bearer"})


async def require_operator(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> None:
    """Lets through the holder of METRICS_API_KEY, or anyone while the whole API is open."""
    expected = settings.metrics_api_key
    if expected is None:
        # With API_KEYS unset there are no tenants to keep apart, and `GET /chat` already lists
        # every session to anyone: the figures tell nobody more than that.
        if settings.api_keys:
            raise HTTPException(status.HTTP_403_FORBIDDEN, CLOSED)
        return
    sent = credentials.credentials if credentials is not None else api_key
    if sent is None:
        raise _unauthorized(f"missing metrics key: {SEND_THE_KEY}")
    if not hmac.compare_digest(_digest(sent), _digest(expected.get_secret_value())):
        raise _unauthorized(
            f"not the metrics key (the keys of API_KEYS do not open /metrics): {SEND_THE_KEY}"
        )


async def metrics(request: Request) -> Response:
    """Every metric of the server, whichever of its worker processes answers."""
    app_metrics: Metrics = request.app.state.metrics
    return Response(app_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def metrics_router(*, public: bool) -> APIRouter:
    """The /metrics route: open to all if `public`, else as `require_operator` says."""
    # Outside the OpenAPI schema: it is for the scraper, not for the API's clients.
    router = APIRouter(
        include_in_schema=False, dependencies=[] if public else [Depends(require_operator)]
    )
    router.add_api_route("/metrics", metrics, methods=["GET"])
    return router
