"""``GET /metrics``: the Prometheus text exposition, behind the ``METRICS`` setting.

``off`` (the default) answers 404, as if there were no such route: the numbers tell how busy the service
and its orgs are, which is nobody's business until an operator decides who may scrape. ``token`` wants
``Authorization: Bearer METRICS_TOKEN`` (compared in constant time); ``open`` wants nothing, for a service
reached only through a proxy or network that already keeps strangers out.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess

from arraylake.server import metrics
from arraylake.server.context import AppContext
from arraylake.server.deps import Ctx
from arraylake.server.errors import Forbidden, NotFound, Unauthorized

router = APIRouter(include_in_schema=False)


def _allowed(request: Request, ctx: AppContext) -> None:
    settings = ctx.settings
    if settings.metrics == "off":
        raise NotFound("not found; set ARRAYLAKE_SERVER_METRICS to serve metrics")
    if settings.metrics == "open":
        return
    scheme, _, offered = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not offered:
        raise Unauthorized("metrics need the bearer token of ARRAYLAKE_SERVER_METRICS_TOKEN")
    assert settings.metrics_token is not None  # settings refuse METRICS=token without one
    expected = settings.metrics_token.get_secret_value().encode()
    if not hmac.compare_digest(offered.strip().encode(), expected):
        raise Forbidden("wrong metrics token")


def _registry() -> CollectorRegistry:
    if not metrics.MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry)
    return registry


@router.get("/metrics")
async def prometheus_metrics(request: Request, ctx: Ctx) -> Response:
    """Every worker's metrics, in the Prometheus text format."""
    _allowed(request, ctx)
    metrics.sample_pool(ctx.engine.pool)
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
