"""`GET /metrics`: Prometheus' text format, behind API_KEYS unless METRICS_PUBLIC is true."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth import get_owner
from api.observability.metrics import Metrics


async def metrics(request: Request) -> Response:
    """Every metric of the server, whichever of its worker processes answers."""
    app_metrics: Metrics = request.app.state.metrics
    return Response(app_metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def metrics_router(*, public: bool) -> APIRouter:
    """The /metrics route: it asks for one of API_KEYS (when set) unless `public`."""
    # Outside the OpenAPI schema: it is for the scraper, not for the API's clients.
    router = APIRouter(include_in_schema=False, dependencies=[] if public else [Depends(get_owner)])
    router.add_api_route("/metrics", metrics, methods=["GET"])
    return router
