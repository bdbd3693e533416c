"""``/compute/orgs/{org}/...``: the compute control plane, in the hosted product's wire dialect, so that its
published clients (the 0.15 line and 1.7) work unchanged.

Org admins enable, change and disable services; every member lists them and reads their status and logs.
The hosted operator endpoints (``/compute/config``, ``/compute/dump``, ``/compute/load``) are not part of
this service (they configure the hosted Kubernetes controller): they answer 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from arraylake.server.compute import logbook, service
from arraylake.server.deps import ComputeManager, ComputeViewer, InOrg
from arraylake.server.errors import InvalidInput
from arraylake.server.logs import get_logger
from arraylake.server.web.urls import public_base
from arraylake.types.common import WireModel
from arraylake.types.compute import ComputeRegion, ComputeSku, DeploymentInfo, ServiceConfig, ServiceUpdate

router = APIRouter(prefix="/compute/orgs/{org}", tags=["compute"])
log = get_logger("arraylake.server.compute")

LEGACY_LOG_LINES = 1000
"""How many of the last log lines a client that asks for no window (the 0.15 line) receives."""
LOG_WINDOW = ("follow_timeout", "follow", "tail", "since", "until")
SERVICE = "/services/{name}"


class Enabled(WireModel):
    """The answer to ``enable``: a message for people (the hosted clients print it) and the deployment."""

    message: str
    deployment: DeploymentInfo


class Disabled(WireModel):
    message: str


def _base(request: Request, call: InOrg) -> str:
    return public_base(request, call.ctx.settings)


@router.post("/services", response_model=Enabled, status_code=201)
async def enable_service(config: ServiceConfig, call: ComputeManager, request: Request) -> Enabled:
    """Enable a compute service: every repo of the org served over one protocol. The 0.15 clients send
    every field (no SKU: the default one), the 1.7 clients only those they set; ``sku_code`` is one of
    ``GET .../skus``, ``region`` one of ``GET .../regions`` (default: the first). A public service lets
    anyone read every repo of the org."""
    async with call.ctx.engine.begin() as conn:
        done = await service.enable_service(
            conn,
            call.member,
            config,
            regions=call.ctx.settings.compute_regions,
            principal=call.principal,
            public_base=_base(request, call),
        )
    config = done.info.config
    where = {"org": call.org, "deployment": done.info.name}
    log.info("compute service enabled", **where, protocol=config.service_type.value, sku=config.sku_code)
    if config.is_public:
        log.warning("compute service is public: every repo of its org is readable without a token", **where)
    return Enabled(message=done.message, deployment=done.info)


@router.get("/services", response_model=list[DeploymentInfo])
async def list_services(call: ComputeViewer, request: Request) -> JSONResponse:
    """The org's enabled compute services (for the hosted clients of the 0.x line, in their terms)."""
    async with call.ctx.reader.connect() as conn:
        infos = await service.list_services(conn, call.member, public_base=_base(request, call))
    client = service.hosted_client_version(
        request.headers.get("client-name"), request.headers.get("client-version")
    )
    return JSONResponse(service.in_client_dialect(infos, client))


@router.get(SERVICE, response_model=DeploymentInfo)
async def get_service(name: str, call: ComputeViewer, request: Request) -> DeploymentInfo:
    """One compute service (disabled ones too): its URL, configuration and status."""
    async with call.ctx.reader.connect() as conn:
        return await service.get_service(conn, call.member, name, public_base=_base(request, call))


@router.patch(SERVICE, response_model=DeploymentInfo)
async def update_service(
    name: str, changes: ServiceUpdate, call: ComputeManager, request: Request
) -> DeploymentInfo:
    """Change an enabled service's SKU or replicas: only the given fields (an explicit null is refused).
    The service restarts with them."""
    async with call.ctx.engine.begin() as conn:
        info = await service.update_service(
            conn, call.member, call.principal, name, changes, public_base=_base(request, call)
        )
    log.info("compute service changed", org=call.org, deployment=name, sku=info.config.sku_code)
    return info


@router.delete(SERVICE, response_model=Disabled)
async def disable_service(name: str, call: ComputeManager) -> Disabled:
    """Disable a compute service: its processes stop, a public one's anonymous access ends. Its logs and
    status stay readable."""
    async with call.ctx.engine.begin() as conn:
        message = await service.disable_service(conn, call.member, call.principal, name)
    log.info("compute service disabled", org=call.org, deployment=name)
    return Disabled(message=message)


_LOGS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "With no query parameter (the 0.15 clients): the last lines as one JSON string. "
        "Otherwise: log lines as text, ``<RFC3339 time> <stdout|stderr> <F|P> <message>``, streamed while "
        "``follow``.",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "string"}},
        },
    }
}


@router.get(SERVICE + "/logs", response_class=Response, responses=_LOGS)
async def service_logs(
    name: str,
    call: ComputeViewer,
    request: Request,
    follow_timeout: int | None = Query(
        default=None, ge=1, le=600, description="With ``follow``: seconds to follow (default 30)"
    ),
    follow: bool = Query(default=False, description="Keep streaming new lines"),
    tail: int | None = Query(default=None, ge=0, description="Only the last N lines"),
    since: datetime | None = Query(default=None, description="Only lines written at or after (ISO 8601)"),
    until: datetime | None = Query(default=None, description="Only lines written at or before (ISO 8601)"),
) -> Response:
    """A compute service's log: its own output and the supervisor's events about it (starting, ready,
    crashed, restarting, stopped)."""
    if since is not None and until is not None and _utc(since) > _utc(until):
        raise InvalidInput(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
    async with call.ctx.reader.connect() as conn:
        service_id = await service.service_id(conn, call.member, name)
    data_dir = call.ctx.settings.data_dir
    if not any(key in request.query_params for key in LOG_WINDOW):
        lines = await asyncio.to_thread(
            logbook.read_lines, data_dir, service_id, tail=LEGACY_LOG_LINES, since=None, until=None
        )
        return JSONResponse("\n".join(lines))
    if follow:
        followed = logbook.follow_lines(
            data_dir, service_id, tail=tail, since=since, until=until, timeout=float(follow_timeout or 30)
        )
        return StreamingResponse(_as_text(followed), media_type="text/plain; charset=utf-8")
    lines = await asyncio.to_thread(
        logbook.read_lines, data_dir, service_id, tail=tail, since=since, until=until
    )
    return Response("".join(f"{line}\n" for line in lines), media_type="text/plain; charset=utf-8")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


async def _as_text(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    async for line in lines:
        yield f"{line}\n"


@router.get("/regions", response_model=list[ComputeRegion])
async def list_regions(call: ComputeViewer) -> list[ComputeRegion]:
    """Where this installation runs compute services; the one marked ``default`` is used when ``enable``
    names none."""
    return service.offered_regions(call.ctx.settings.compute_regions)


@router.get("/skus", response_model=list[ComputeSku])
async def list_skus(call: ComputeViewer) -> list[ComputeSku]:
    """The sizes a compute service runs at (``sku_code``); ``enable`` without one picks the default size
    (``s``). An extension: the hosted service does not list them."""
    return service.offered_skus()
