"""The org's default maintenance policy: what applies to every repo that does not set a part itself."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from arraylake.server.deps import OrgName
from arraylake.server.maintenance import settings as maintenance
from arraylake.server.maintenance.policy import effective
from arraylake.server.policy import Action
from arraylake.server.web.rendering import redirect_with_message, render
from arraylake.server.web.repo_maintenance import PostedPolicy, form_context, form_values, policy_from_form
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import FormPost, SignedIn
from arraylake.types import utcnow
from arraylake.types.maintenance import OptimizationConfig

router = pages_router()


def _url(org: str) -> str:
    return f"/app/{org}/-/maintenance"


@router.get("/app/{org}/-/maintenance", response_class=HTMLResponse)
async def org_maintenance_page(request: Request, org: OrgName, viewer: SignedIn) -> HTMLResponse:
    """The org's default policy, part by part, and where the service's own defaults fill in; admins edit."""
    call = viewer.in_org(org, Action.VIEW_ORG)
    ctx = viewer.ctx
    async with ctx.reader.connect() as conn:
        config = await maintenance.org_policy(conn, ctx.settings, call.member)
    applied = effective(None, config.model_dump(mode="json"), ctx.settings, utcnow())
    shown = OptimizationConfig(
        window=applied.window, expiration_config=applied.expiration, gc_config=applied.gc
    )
    return render(
        request,
        viewer,
        "app/org_maintenance.html",
        org=org,
        section="maintenance",
        title=f"Maintenance defaults of {org}",
        config=config,
        applied=applied,
        values=form_values(config, shown),
        may_manage=viewer.may(org, Action.MANAGE_MAINTENANCE),
        own_label="Set in the org's default (otherwise the service's default applies)",
        action=_url(org),
        **form_context(),
    )


@router.post("/app/{org}/-/maintenance", response_model=None)
async def set_org_policy(org: OrgName, viewer: FormPost, form: PostedPolicy) -> RedirectResponse:
    """Set the org's default policy; repos that set a part themselves keep theirs."""
    call = viewer.in_org(org, Action.MANAGE_MAINTENANCE)
    ctx = viewer.ctx
    async with ctx.engine.begin() as conn:
        current = await maintenance.org_policy(conn, ctx.settings, call.member)
        config = policy_from_form(form, current)
        await maintenance.set_org_policy(conn, ctx.settings, call.member, config, viewer.principal)
    return redirect_with_message(viewer, _url(org), f"Saved the default maintenance policy of {org}.")
