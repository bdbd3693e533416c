"""Org and access management endpoints: orgs, members and roles, API clients and tokens, token lookup,
permission checks."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy import select

from arraylake.exceptions import InvalidNameError
from arraylake.names import parse_repo_name
from arraylake.server.context import AppContext, app_context, current_principal
from arraylake.server.db.schema import orgs
from arraylake.server.errors import Forbidden, InvalidInput, NotFound
from arraylake.server.identity import access
from arraylake.server.identity.principals import Principal, PrincipalKind, Role
from arraylake.server.identity.service import add_membership, create_org, principal_by_id
from arraylake.server.paths import org_name
from arraylake.server.policy import Action, authorize, has_org_action, membership, repo_actions
from arraylake.server.repos.service import repo_row
from arraylake.types import (
    ApiClientCreated,
    ApiClientCreateRequest,
    ApiClientInfo,
    ApiClientResponse,
    ApiTokenCreated,
    ApiTokenCreateRequest,
    MemberAddRequest,
    MemberRoleUpdate,
    OrgActions,
    OrgCreateRequest,
    OrgMember,
    OrgResponse,
    PermissionCheckResponse,
    RepoActions,
)

router = APIRouter(tags=["access"])

Who = Path(description="Email of a user, or a principal id")


async def _org_response(ctx: AppContext, org_id: str) -> OrgResponse:
    async with ctx.reader.connect() as conn:
        row = (await conn.execute(select(orgs).where(orgs.c.id == org_id))).one()
    return OrgResponse(
        id=row.id,
        name=row.name,
        display_name=row.display_name,
        description=row.description,
        created=row.created,
        created_by=row.created_by,
    )


@router.post("/orgs", response_model=OrgResponse, status_code=201)
async def new_org(
    body: OrgCreateRequest,
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> OrgResponse:
    """Create an org; its creator becomes its admin."""
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("API clients belong to one org and cannot create orgs; sign in as a user")
    if not ctx.settings.allow_org_creation:
        raise Forbidden("this service does not let users create orgs; ask its operator")
    async with ctx.engine.begin() as conn:
        org_id = await create_org(
            conn,
            body.name,
            created_by=principal.id,
            display_name=body.display_name,
            description=body.description,
        )
        await add_membership(conn, org_id, principal.id, Role.ADMIN)
    return await _org_response(ctx, org_id)


@router.get("/orgs/{org}", response_model=OrgResponse)
async def get_org(
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> OrgResponse:
    return await _org_response(ctx, membership(principal, org).org_id)


# ------------------------------------------------------------------------------------------------ members


@router.get("/orgs/{org}/members", response_model=list[OrgMember])
async def list_members(
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[OrgMember]:
    """The org's members (users and API clients) and their roles."""
    member = authorize(principal, org, Action.VIEW_ORG)
    async with ctx.reader.connect() as conn:
        return await access.list_members(conn, member)


@router.post("/orgs/{org}/members", response_model=OrgMember, status_code=201)
async def add_member(
    body: MemberAddRequest,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> OrgMember:
    """Add a user (by email or id), or one of the org's API clients, with a role."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        added = await access.add_member(conn, member, body.principal, Role(body.role))
    return added


@router.patch("/orgs/{org}/members/{who}", response_model=OrgMember)
async def set_member_role(
    body: MemberRoleUpdate,
    who: str = Who,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> OrgMember:
    """Change a member's role (an org keeps at least one admin)."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        changed = await access.set_role(conn, member, who, Role(body.role))
    return changed


@router.delete("/orgs/{org}/members/{who}", status_code=204)
async def remove_member(
    who: str = Who,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Remove a member (an org keeps at least one admin)."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        await access.remove_member(conn, member, who)
    return Response(status_code=204)


# -------------------------------------------------------------------------------- token lookup, permissions


@router.get("/orgs/{org}/api-clients/authenticate", response_model=ApiClientResponse)
async def authenticate_token(
    token: str = Query(description="The API token to look up"),
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> ApiClientResponse:
    """The API client of this org that a token belongs to (404 unless it is valid and of this org)."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.reader.connect() as conn:
        return await access.lookup_token(conn, member, token)


@router.get("/orgs/{org}/permissions/check", response_model=PermissionCheckResponse)
@router.get(
    "/orgs/{org}/api-clients/permissions/check",
    response_model=PermissionCheckResponse,
    include_in_schema=False,
)
async def check_permission(
    principal_id: str = Query(description="The principal to ask about"),
    resource: str = Query(description="The org name for org actions; ORG/REPO (or REPO) for repo actions"),
    action: str = Query(description="An OrgActions or RepoActions value"),
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> PermissionCheckResponse:
    """Whether a principal may perform an action. Org admins may ask about anyone; others about themselves."""
    if principal_id != principal.id:
        authorize(principal, org, Action.MANAGE_MEMBERS)
    elif org not in principal.memberships and not any(o == org for o, _ in principal.grants):
        membership(principal, org)  # 404 for an org the caller knows nothing of
    # CAN_MANAGE_USERS is both an org and a repo action: the resource says which one is meant
    is_org_action = action in OrgActions.__members__.values() and (
        action not in RepoActions.__members__.values() or resource in (org, "")
    )
    if is_org_action:
        if resource not in (org, ""):
            raise InvalidInput(f"org actions apply to the org: resource must be {org!r}")
        async with ctx.reader.connect() as conn:
            target = await principal_by_id(conn, principal_id)
        return PermissionCheckResponse(
            has_permission=target is not None and has_org_action(target, org, OrgActions(action))
        )
    if action not in RepoActions.__members__.values():
        known = ", ".join([*OrgActions.__members__.values(), *RepoActions.__members__.values()])
        raise InvalidInput(f"unknown action {action!r}; use one of {known}")
    try:
        repo_org, repo = parse_repo_name(resource) if "/" in resource else (org, resource)
    except InvalidNameError as exc:
        raise InvalidInput(f"resource: {exc}") from exc
    if repo_org != org:
        raise InvalidInput(f"resource {resource!r} is not in org {org}")
    async with ctx.reader.connect() as conn:
        target = await principal_by_id(conn, principal_id)
        if target is None:
            return PermissionCheckResponse(has_permission=False)
        scope = principal.memberships.get(org) or target.memberships.get(org)
        exists = True
        if scope is not None:
            try:
                await repo_row(conn, scope, repo)
            except NotFound:
                exists = False
    allowed = exists and RepoActions(action) in repo_actions(target, org, repo)
    return PermissionCheckResponse(has_permission=allowed)


# -------------------------------------------------------------------------------------------- API clients


@router.get("/orgs/{org}/api-clients", response_model=list[ApiClientInfo])
async def list_api_clients(
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[ApiClientInfo]:
    """The org's API clients (service accounts) and their tokens (never the tokens themselves)."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.reader.connect() as conn:
        return await access.list_api_clients(conn, member)


@router.post("/orgs/{org}/api-clients", response_model=ApiClientCreated, status_code=201)
async def new_api_client(
    body: ApiClientCreateRequest,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> ApiClientCreated:
    """Create an API client with a role and a first token (shown once)."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        client, token = await access.new_api_client(
            conn, member, name=body.name, role=Role(body.role), expires_in_days=body.expires_in_days
        )
    return ApiClientCreated(client=client, token=token)


@router.get("/orgs/{org}/api-clients/{client_id}", response_model=ApiClientInfo)
async def get_api_client(
    client_id: str,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> ApiClientInfo:
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.reader.connect() as conn:
        return await access.api_client(conn, member, client_id)


@router.delete("/orgs/{org}/api-clients/{client_id}", status_code=204)
async def revoke_api_client(
    client_id: str,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Disable an API client and revoke all its tokens."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        await access.revoke_api_client(conn, member, client_id)
    return Response(status_code=204)


@router.post("/orgs/{org}/api-clients/{client_id}/tokens", response_model=ApiTokenCreated, status_code=201)
async def new_api_token(
    body: ApiTokenCreateRequest,
    client_id: str,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> ApiTokenCreated:
    """Add a token to an API client (e.g. to rotate tokens); shown once."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        return await access.new_api_token(
            conn, member, client_id, name=body.name, expires_in_days=body.expires_in_days
        )


@router.delete("/orgs/{org}/api-clients/{client_id}/tokens/{token_id}", status_code=204)
async def revoke_api_token(
    client_id: str,
    token_id: str,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Revoke one token of an API client."""
    member = authorize(principal, org, Action.MANAGE_MEMBERS)
    async with ctx.engine.begin() as conn:
        await access.revoke_api_token(conn, member, client_id, token_id)
    return Response(status_code=204)
