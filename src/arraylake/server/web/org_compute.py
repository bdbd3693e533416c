"""The org's compute services: status, logs, enable and disable."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from arraylake.server.compute import logbook, service
from arraylake.server.deps import OrgName
from arraylake.server.errors import InvalidInput
from arraylake.server.policy import Action
from arraylake.server.web.org_buckets import invalid_input
from arraylake.server.web.rendering import is_htmx, redirect_with_message, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.urls import public_base
from arraylake.server.web.viewer import FormPost, SignedIn, Viewer
from arraylake.types.compute import DeploymentInfo, ServiceConfig, ServiceType

router = pages_router()

LOG_LINES = 200
"""How many of a service's last log lines its logs page shows."""
PUBLIC_WARNING = (
    "A PUBLIC service lets anyone, without a token, read EVERY repo of {org} through its URL. "
    "Leave this unticked unless all of the org's data is meant to be public."
)


def _url(org: str) -> str:
    return f"/app/{org}/-/compute"


async def _services(request: Request, viewer: Viewer, org: str) -> list[DeploymentInfo]:
    call = viewer.in_org(org, Action.VIEW_COMPUTE)
    async with viewer.ctx.reader.connect() as conn:
        return await service.list_services(
            conn, call.member, public_base=public_base(request, viewer.ctx.settings)
        )


@router.get("/app/{org}/-/compute", response_class=HTMLResponse)
async def compute_page(request: Request, viewer: SignedIn, org: OrgName) -> HTMLResponse:
    """The org's enabled services and their status; the enable form and disable buttons for admins."""
    found = await _services(request, viewer, org)
    return render(
        request,
        viewer,
        "app/org_compute.html",
        title=f"Compute services of {org}",
        org=org,
        section="compute",
        services=found,
        service_types=list(ServiceType),
        skus=service.offered_skus(),
        regions=service.offered_regions(viewer.ctx.settings.compute_regions),
        public_warning=PUBLIC_WARNING.format(org=org),
        may_manage=viewer.may(org, Action.MANAGE_COMPUTE),
    )


@router.get("/app/{org}/-/compute/services", response_class=HTMLResponse)
async def services_fragment(request: Request, viewer: SignedIn, org: OrgName) -> HTMLResponse:
    """The services table alone, which the page refreshes every few seconds."""
    found = await _services(request, viewer, org)
    return render(
        request,
        viewer,
        "app/_org_compute_services.html",
        org=org,
        services=found,
        may_manage=viewer.may(org, Action.MANAGE_COMPUTE),
    )


def _optional_int(value: str, what: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{what}: give a whole number, not {value!r}") from None


@router.post("/app/{org}/-/compute", response_class=RedirectResponse)
async def enable_service(
    request: Request,
    viewer: FormPost,
    org: OrgName,
    service_type: Annotated[str, Form(max_length=16)],
    deployment_name: Annotated[str, Form(max_length=64)] = "",
    sku_code: Annotated[str, Form(max_length=32)] = "",
    region: Annotated[str, Form(max_length=128)] = "",
    min_replicas: Annotated[str, Form(max_length=8)] = "",
    max_replicas: Annotated[str, Form(max_length=8)] = "",
    is_public: Annotated[bool, Form()] = False,
) -> RedirectResponse:
    """Enable a service serving every repo of the org; the answer says where (and loudly if public)."""
    call = viewer.in_org(org, Action.MANAGE_COMPUTE)
    try:
        config = ServiceConfig.model_validate(
            {
                "service_type": service_type,
                "org": org,
                "is_public": is_public,
                "deployment_name": deployment_name.strip() or None,
                "sku_code": sku_code.strip() or None,
                "region": region.strip() or None,
                "min_replicas": _optional_int(min_replicas, "min replicas"),
                "max_replicas": _optional_int(max_replicas, "max replicas"),
            }
        )
    except ValidationError as exc:
        raise invalid_input(exc) from exc
    async with viewer.ctx.engine.begin() as conn:
        done = await service.enable_service(
            conn,
            call.member,
            config,
            regions=viewer.ctx.settings.compute_regions,
            principal=call.principal,
            public_base=public_base(request, viewer.ctx.settings),
        )
    tone = "error" if done.info.config.is_public else "ok"
    return redirect_with_message(viewer, _url(org), done.message, tone=tone)


@router.post("/app/{org}/-/compute/{name}/disable", response_class=RedirectResponse)
async def disable_service(
    viewer: FormPost, org: OrgName, name: str, confirm: Annotated[bool, Form()] = False
) -> RedirectResponse:
    """Disable a service, once confirmed: its processes stop; its logs stay readable."""
    call = viewer.in_org(org, Action.MANAGE_COMPUTE)
    if not confirm:
        raise InvalidInput(f"Tick “I understand” to disable {name}.")
    async with viewer.ctx.engine.begin() as conn:
        message = await service.disable_service(conn, call.member, call.principal, name)
    return redirect_with_message(viewer, _url(org), message[:1].upper() + message[1:] + ".")


@router.get("/app/{org}/-/compute/{name}/logs", response_class=HTMLResponse)
async def service_logs(request: Request, viewer: SignedIn, org: OrgName, name: str) -> HTMLResponse:
    """A service's last log lines (its output and the supervisor's events); htmx gets the lines alone."""
    call = viewer.in_org(org, Action.VIEW_COMPUTE)
    async with viewer.ctx.reader.connect() as conn:
        info = await service.get_service(
            conn, call.member, name, public_base=public_base(request, viewer.ctx.settings)
        )
        service_id = await service.service_id(conn, call.member, name)
    lines = await asyncio.to_thread(
        logbook.read_lines, viewer.ctx.settings.data_dir, service_id, tail=LOG_LINES, since=None, until=None
    )
    template = "app/_org_compute_logs.html" if is_htmx(request) else "app/org_compute_logs.html"
    return render(
        request,
        viewer,
        template,
        title=f"Logs of {name}",
        org=org,
        section="compute",
        info=info,
        lines=lines,
        limit=LOG_LINES,
    )
