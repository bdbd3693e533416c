"""The viewer's own pages: the way into the app (``/app``) and the account page."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from arraylake.server.web.rendering import render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import SignedIn

router = pages_router()


@router.get("/app")
async def app_home(viewer: SignedIn) -> RedirectResponse:
    """The catalog of the viewer's first org, or the account page when it has none."""
    orgs = viewer.orgs()
    return RedirectResponse(f"/app/{orgs[0]}" if orgs else "/app/-/account", status_code=303)


@router.get("/app/-/account", response_class=HTMLResponse)
async def account_page(request: Request, viewer: SignedIn) -> HTMLResponse:
    """Who is signed in, their orgs and roles, and the way to sign out."""
    memberships = [(org, viewer.role(org)) for org in viewer.orgs()]
    return render(
        request,
        viewer,
        "app/account.html",
        title="Your account",
        memberships=memberships,
        may_found=viewer.ctx.settings.allow_org_creation,
    )


fallback = pages_router()
"""Included last: any other ``/app`` address is a page that says so (not the API's JSON 404)."""


@fallback.get("/app/{anything:path}", response_class=HTMLResponse)
async def no_such_page(request: Request, viewer: SignedIn, anything: str) -> HTMLResponse:
    return render(
        request,
        viewer,
        "app/error.html",
        status=404,
        title="Not found",
        text=f"There is no page at /app/{anything}.",
    )
