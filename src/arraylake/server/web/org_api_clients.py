"""Org settings: API clients and their tokens (shown once), revoke, last used."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from arraylake.server.deps import OrgName
from arraylake.server.errors import InvalidInput
from arraylake.server.orgs import api_clients
from arraylake.server.policy import Action
from arraylake.server.web.rendering import redirect_with_message, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import FormPost, SignedIn, Viewer
from arraylake.types import ApiTokenCreated, OrgRole, utcnow

router = pages_router()

Days = Annotated[float | None, Form(gt=0, le=3650)]


def _url(org: str) -> str:
    return f"/app/{org}/-/api-clients"


async def _page(
    request: Request,
    viewer: Viewer,
    org: str,
    *,
    status: int = 200,
    created: ApiTokenCreated | None = None,
    created_for: str | None = None,
) -> HTMLResponse:
    """The page of the org's API clients; ``created``: a new token to show this once."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    async with viewer.ctx.reader.connect() as conn:
        found = await api_clients.list_api_clients(conn, call.member)
    return render(
        request,
        viewer,
        "app/org_api_clients.html",
        status=status,
        title=f"API clients of {org}",
        org=org,
        section="api-clients",
        clients=found,
        roles=list(OrgRole),
        created=created,
        created_for=created_for,
        now=utcnow(),
    )


@router.get("/app/{org}/-/api-clients", response_class=HTMLResponse)
async def api_clients_page(request: Request, viewer: SignedIn, org: OrgName) -> HTMLResponse:
    """The org's API clients and their tokens (never the tokens themselves)."""
    return await _page(request, viewer, org)


@router.post("/app/{org}/-/api-clients", response_class=HTMLResponse, status_code=201)
async def create_api_client(
    request: Request,
    viewer: FormPost,
    org: OrgName,
    name: Annotated[str, Form(min_length=1, max_length=128)],
    role: Annotated[OrgRole, Form()] = OrgRole.REPO_READER,
    expires_in_days: Days = None,
) -> HTMLResponse:
    """Create an API client and its first token; the answer is the one page that shows the token."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    if not name.strip():
        raise InvalidInput("name: give the API client a name")
    async with viewer.ctx.engine.begin() as conn:
        made = await api_clients.new_api_client(
            conn,
            call.member,
            name=name.strip(),
            role=role,
            expires_in_days=expires_in_days,
            actor=viewer.principal,
        )
    return await _page(request, viewer, org, status=201, created=made.token, created_for=made.client.name)


@router.post("/app/{org}/-/api-clients/{client_id}/tokens", response_class=HTMLResponse, status_code=201)
async def create_token(
    request: Request,
    viewer: FormPost,
    org: OrgName,
    client_id: str,
    name: Annotated[str, Form(max_length=128)] = "",
    expires_in_days: Days = None,
) -> HTMLResponse:
    """Another token for an API client (to rotate tokens); shown on this answer only."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    async with viewer.ctx.engine.begin() as conn:
        client = await api_clients.api_client(conn, call.member, client_id)
        made = await api_clients.new_api_token(
            conn,
            call.member,
            client_id,
            name=name.strip(),
            expires_in_days=expires_in_days,
            actor=viewer.principal,
        )
    return await _page(request, viewer, org, status=201, created=made, created_for=client.name)


@router.post("/app/{org}/-/api-clients/{client_id}/tokens/{token_id}/revoke", response_class=RedirectResponse)
async def revoke_token(viewer: FormPost, org: OrgName, client_id: str, token_id: str) -> RedirectResponse:
    """Revoke one token of an API client; its other tokens keep working."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    async with viewer.ctx.engine.begin() as conn:
        client = await api_clients.api_client(conn, call.member, client_id)
        await api_clients.revoke_api_token(conn, call.member, client_id, token_id, actor=viewer.principal)
    return redirect_with_message(viewer, _url(org), f"Revoked token {token_id} of API client {client.name}.")


@router.post("/app/{org}/-/api-clients/{client_id}/revoke", response_class=RedirectResponse)
async def revoke_client(
    viewer: FormPost, org: OrgName, client_id: str, confirm: Annotated[bool, Form()] = False
) -> RedirectResponse:
    """Disable an API client and revoke all its tokens, once confirmed."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    if not confirm:
        raise InvalidInput("Tick “I understand” to disable this API client and revoke its tokens.")
    async with viewer.ctx.engine.begin() as conn:
        client = await api_clients.api_client(conn, call.member, client_id)
        await api_clients.revoke_api_client(conn, call.member, client_id, actor=viewer.principal)
    text = f"Revoked API client {client.name} ({client_id}) and all its tokens."
    return redirect_with_message(viewer, _url(org), text)
