"""``/v1/services/{deployment}/{org}/{path}``: the data URLs of a deployment, forwarded to its processes.

The proxy finds the deployment (by org and deployment name), wakes it when it sleeps, and forwards the
request to ``127.0.0.1:{port}/{org}/{path}`` as it came (method, query, body, end-to-end headers), with
``X-Arraylake-Public-Base`` so that the links the data plane builds point back here. The response is
streamed back as it arrives: a DAP2 download may be gigabytes. It does not authenticate: the data plane
does (a public deployment serves anonymous callers).
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from sqlalchemy.engine import Row
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from arraylake.server.compute import records, supervisor
from arraylake.server.context import AppContext
from arraylake.server.errors import NotFound, ServiceUnavailable
from arraylake.server.logs import get_logger
from arraylake.server.web.urls import public_base
from arraylake.types import utcnow
from arraylake.types.compute import ServiceStatus

PUBLIC_BASE_HEADER = "x-arraylake-public-base"
NOTE_INTERVAL_SECONDS = 10.0
"""At most one ``last_request_at`` write per deployment this often (less, if the idle time is shorter)."""
WAKE_WAIT_SECONDS = 60.0
"""How long a request waits for a sleeping or starting deployment before a 503."""
WAKE_POLL_SECONDS = 0.2
RETRY_AFTER_SECONDS = 5
RETRY_PAUSE_SECONDS = 0.5
# RFC 9110 §7.6.1, plus what is the service's own business: its cookies, the length it recomputes.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "cookie", "content-length", "x-request-id", PUBLIC_BASE_HEADER}
_NOT_RETURNED = _HOP_BY_HOP | {"x-request-id", "set-cookie"}

router = APIRouter(tags=["compute"])
log = get_logger("arraylake.server.compute.proxy")
_noted: dict[str, float] = {}
_clients: dict[int, httpx.AsyncClient] = {}


def _client() -> httpx.AsyncClient:
    """One connection pool per event loop (per worker process)."""
    loop = id(asyncio.get_running_loop())
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=5, read=300, write=60, pool=30),
            limits=httpx.Limits(max_connections=1000, max_keepalive_connections=100),
            trust_env=False,
        )
    return client


async def _lookup(ctx: AppContext, org: str, deployment: str, *, fresh: bool = False) -> Row | None:
    """The deployment's row. Kept in the catalog cache, which forgets it on any commit of this process (a
    disable takes effect at once here) and after ``catalog_cache_seconds`` in the other workers."""

    async def load() -> Row | None:
        async with ctx.reader.connect() as conn:
            return await records.service_row_by_org_name(conn, org, deployment)

    if fresh:
        return await load()
    return await ctx.catalog.get(("compute-deployment", org, deployment), load)


async def _note_request(ctx: AppContext, row: Row, *, wake: bool) -> None:
    interval = min(NOTE_INTERVAL_SECONDS, ctx.settings.compute_idle_seconds / 3)
    now = time.monotonic()
    if not wake and now - _noted.get(row.id, -interval) < interval:
        return
    _noted[row.id] = now
    async with ctx.engine.begin() as conn:
        await records.note_request(conn, row.id, utcnow(), wake=wake)
    if wake:
        supervisor.nudge()


def _unavailable(row: Row, why: str) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"compute service {row.name} of org {row.org_name} {why}",
        headers={"retry-after": str(RETRY_AFTER_SECONDS)},
    )


async def _available(ctx: AppContext, org: str, deployment: str, *, fresh: bool = False) -> Row:
    """The deployment's row once it serves: woken if asleep, waited for while it starts (boundedly)."""
    row = await _lookup(ctx, org, deployment, fresh=fresh)
    if row is None:
        raise NotFound(f"compute service {deployment} not found in org {org}")
    deadline = time.monotonic() + min(WAKE_WAIT_SECONDS, ctx.settings.compute_start_timeout_seconds)
    woken = False
    while True:
        if row.desired != records.RUNNING or row.status == ServiceStatus.STOPPED.value:
            raise _unavailable(row, "is disabled: an org admin can enable it again")
        if row.status == ServiceStatus.AVAILABLE.value and row.port:
            return row
        if row.status == ServiceStatus.ERROR.value:
            raise _unavailable(row, f"is failing: {row.status_detail or 'see its logs'}")
        if row.status == ServiceStatus.SLEEPING.value and not woken:
            await _note_request(ctx, row, wake=True)
            woken = True
        if time.monotonic() > deadline:
            raise _unavailable(row, f"is still starting ({row.status}); retry shortly")
        await asyncio.sleep(WAKE_POLL_SECONDS)
        row = await _lookup(ctx, org, deployment, fresh=True)
        if row is None:
            raise NotFound(f"compute service {deployment} not found in org {org}")


def _forwarded_headers(request: Request, public: str) -> list[tuple[str, str]]:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED]
    headers.append((PUBLIC_BASE_HEADER, public))
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        headers.append(("x-request-id", request_id))
    return headers


def _target(request: Request, deployment: str, org: str, path: str) -> bytes:
    """``/{org}/{path}?{query}`` as the client encoded it (decoding and encoding again could change it)."""
    raw: bytes = request.scope.get("raw_path") or b""
    prefix = f"/v1/services/{deployment}/".encode()
    rest = raw[len(prefix) - 1 :] if raw.startswith(prefix) else quote(f"/{org}/{path}").encode()
    query: bytes = request.scope.get("query_string") or b""
    return rest + b"?" + query if query else rest


@router.api_route(
    "/v1/services/{deployment}/{org}/{path:path}",
    methods=["GET", "HEAD", "POST"],
    include_in_schema=False,
)
async def forward(deployment: str, org: str, path: str, request: Request) -> Response:
    """A deployment's data URL: forwarded to its processes, the response streamed back."""
    ctx: AppContext = request.app.state.ctx
    public = f"{records.services_base_url(public_base(request, ctx.settings))}/{deployment}"
    headers = _forwarded_headers(request, public)
    body = await request.body() if request.method == "POST" else None
    target = _target(request, deployment, org, path)
    client = _client()
    for attempt in (1, 2):
        row = await _available(ctx, org, deployment, fresh=attempt > 1)
        if attempt == 1:
            await _note_request(ctx, row, wake=False)
        url = httpx.URL(f"http://127.0.0.1:{row.port}", raw_path=target)
        upstream_request = client.build_request(request.method, url, headers=headers, content=body)
        try:
            upstream = await client.send(upstream_request, stream=True)
            break
        except httpx.ConnectError:
            # Stopped since the catalog (or the cache) said it was available, e.g. gone to sleep: nothing
            # was sent, so asking the catalog again and retrying once is safe.
            if attempt > 1:
                raise _unavailable(row, "did not answer; retry shortly") from None
            await asyncio.sleep(RETRY_PAUSE_SECONDS)
        except httpx.TransportError as exc:
            log.warning("compute deployment did not answer", deployment=deployment, org=org, error=str(exc))
            raise _unavailable(row, "did not answer; retry shortly") from None
    response = StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        background=BackgroundTask(upstream.aclose),
    )
    # Raw headers: a response may repeat one (Link, Vary); the length is the upstream's, bytes unchanged.
    response.raw_headers = [
        (name.lower(), value)
        for name, value in upstream.headers.raw
        if name.decode("latin-1").lower() not in _NOT_RETURNED
    ]
    return response
