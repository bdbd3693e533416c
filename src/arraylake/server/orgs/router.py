"""``/orgs``: founding and reading orgs, their members and roles, permission checks; and ``/user/orgs``."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Response

from arraylake.server.deps import Authenticated, MemberManager, OrgCreator, OrgViewer, PermissionAsker
from arraylake.server.orgs import members, permissions, service
from arraylake.types import (
    MemberAddRequest,
    MemberRoleUpdate,
    OrgCreateRequest,
    OrgMember,
    OrgResponse,
    OrgRole,
    PermissionCheckResponse,
)

router = APIRouter(tags=["access"])
user_router = APIRouter(tags=["identity"])
"""``/user/orgs``, documented with the other ``/user`` endpoints."""

Who = Path(description="Email of a user, or a principal id")


@router.post("/orgs", response_model=OrgResponse, status_code=201)
async def new_org(body: OrgCreateRequest, call: OrgCreator) -> OrgResponse:
    """Create an org; its creator becomes its admin."""
    async with call.ctx.engine.begin() as conn:
        return await service.found_org(
            conn, call.principal, body.name, display_name=body.display_name, description=body.description
        )


@router.get("/orgs/{org}", response_model=OrgResponse)
async def get_org(call: OrgViewer) -> OrgResponse:
    """The org, for its members."""
    async with call.ctx.reader.connect() as conn:
        return await service.org_response(conn, call.member.org_id)


@user_router.get("/user/orgs", response_model=list[OrgResponse])
async def list_my_orgs(call: Authenticated) -> list[OrgResponse]:
    """The orgs the caller belongs to."""
    async with call.ctx.reader.connect() as conn:
        return await service.orgs_of(conn, call.principal)


# ------------------------------------------------------------------------------------------------ members


@router.get("/orgs/{org}/members", response_model=list[OrgMember])
async def list_members(call: OrgViewer) -> list[OrgMember]:
    """The org's members (users and API clients) and their roles."""
    async with call.ctx.reader.connect() as conn:
        return await members.list_members(conn, call.member)


@router.post("/orgs/{org}/members", response_model=OrgMember, status_code=201)
async def add_member(body: MemberAddRequest, call: MemberManager) -> OrgMember:
    """Add a user (by email or id), or one of the org's API clients, with a role."""
    async with call.ctx.engine.begin() as conn:
        return await members.add_member(
            conn, call.member, body.principal, OrgRole(body.role), actor=call.principal
        )


@router.patch("/orgs/{org}/members/{who}", response_model=OrgMember)
async def set_member_role(body: MemberRoleUpdate, call: MemberManager, who: str = Who) -> OrgMember:
    """Change a member's role (an org keeps at least one admin)."""
    async with call.ctx.engine.begin() as conn:
        return await members.set_role(conn, call.member, who, OrgRole(body.role), actor=call.principal)


@router.delete("/orgs/{org}/members/{who}", status_code=204)
async def remove_member(call: MemberManager, who: str = Who) -> Response:
    """Remove a member (an org keeps at least one admin)."""
    async with call.ctx.engine.begin() as conn:
        await members.remove_member(conn, call.member, who, actor=call.principal)
    return Response(status_code=204)


# ------------------------------------------------------------------------------------------------ permissions


@router.get("/orgs/{org}/permissions/check", response_model=PermissionCheckResponse)
@router.get(
    "/orgs/{org}/api-clients/permissions/check",
    response_model=PermissionCheckResponse,
    include_in_schema=False,
)
async def check_permission(
    call: PermissionAsker,
    resource: str = Query(description="The org name for org actions; ORG/REPO (or REPO) for repo actions"),
    action: str = Query(description="An OrgActions or RepoActions value"),
) -> PermissionCheckResponse:
    """Whether a principal may perform an action. Org admins may ask about anyone; others about themselves."""
    async with call.ctx.reader.connect() as conn:
        return await permissions.check_permission(
            conn, call.principal, call.org, call.about, resource, action
        )
