"""The service's Prometheus metrics: what is counted, and the cheap calls that count it.

With several worker processes, ``arraylake server start`` points ``PROMETHEUS_MULTIPROC_DIR`` at a private
directory before any worker imports this module, so that every worker writes its values there and any of
them can report the sum (:mod:`arraylake.server.metrics_router`). Gauges add up the live workers' values.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client import multiprocess as prometheus_multiprocess

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
UNMATCHED = "unmatched"
"""The route label of a request no route matched: never its raw path, which anyone can vary."""

REQUESTS = Counter("arraylake_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
REQUEST_SECONDS = Histogram(
    "arraylake_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CREDENTIAL_VENDS = Counter(
    "arraylake_credential_vends_total",
    "Storage credentials handed out, by bucket auth method and outcome: issued (a provider call), reused "
    "(cached or shared with a concurrent request), static (keys of the bucket config), refused, failed",
    ["method", "outcome"],
)
_CATALOG_CACHE = Counter(
    "arraylake_catalog_cache_requests_total", "Lookups in the in-process catalog cache", ["result"]
)
CATALOG_CACHE_HIT = _CATALOG_CACHE.labels("hit")
CATALOG_CACHE_MISS = _CATALOG_CACHE.labels("miss")
CATALOG_POOL = Gauge(
    "arraylake_catalog_pool_connections",
    "Catalog database connections of the service's pools: checked_out (in use), idle, overflow",
    ["state"],
    multiprocess_mode="livesum",
)
JANITOR_ROUNDS = Counter(
    "arraylake_janitor_rounds_total",
    "Janitor rounds (expired reservations, unfinished deletions)",
    ["outcome"],
)
REPO_DATA_REMOVALS = Counter(
    "arraylake_repo_data_removals_total", "Deleted repos whose data removal ended", ["outcome"]
)
REPO_OBJECTS_DELETED = Counter(
    "arraylake_repo_objects_deleted_total", "Objects deleted from buckets with the data of deleted repos"
)
DELETIONS_ACTIVE = Gauge(
    "arraylake_repo_deletions_active",
    "Data removals of deleted repos in progress now",
    multiprocess_mode="livesum",
)

RequestObserver = Callable[[dict[str, Any], int, float], None]


def request_observer() -> RequestObserver:
    """A function that counts one answered request: its method, route template and status, and its time.

    The labelled children are looked up once per (method, route, status): the hot path is two updates.
    """
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(scope: dict[str, Any], status: int, seconds: float) -> None:
        route = scope.get("route")
        key = (scope["method"], getattr(route, "path", UNMATCHED), status)
        pair = children.get(key)
        if pair is None:
            labels = (key[0], key[1], str(status))
            pair = children[key] = (REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels))
        pair[0].inc()
        pair[1].observe(seconds)

    return observe


def sample_pool(pool: Any) -> None:
    """Record how many catalog connections are in use and idle (a QueuePool; other pools are skipped)."""
    if not all(hasattr(pool, name) for name in ("checkedout", "checkedin", "overflow")):
        return
    CATALOG_POOL.labels("checked_out").set(pool.checkedout())
    CATALOG_POOL.labels("idle").set(pool.checkedin())
    CATALOG_POOL.labels("overflow").set(max(0, pool.overflow()))


def process_exiting() -> None:
    """Drop this worker's gauges from the shared sums (its counters stay: what it counted happened)."""
    if MULTIPROCESS:
        prometheus_multiprocess.mark_process_dead(os.getpid())
