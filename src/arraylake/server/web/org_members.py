"""Org settings: members and roles, repo grants."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from arraylake.server.deps import OrgName, RepoName
from arraylake.server.errors import InvalidInput
from arraylake.server.orgs import members
from arraylake.server.policy import Action
from arraylake.server.repos import grants
from arraylake.server.repos.records import repo_row
from arraylake.server.web.rendering import redirect_with_message, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import FormPost, SignedIn
from arraylake.types import OrgRole, RepoActions

router = pages_router()

ROLE_HELP = {
    OrgRole.ADMIN: "everything in the org: repos, bucket configs, members, API clients",
    OrgRole.REPO_WRITER: "create repos; read and write every repo",
    OrgRole.REPO_READER: "read every repo",
    OrgRole.MEMBER: "only the repos granted to them",
}

Principal = Annotated[str, Form(min_length=1, max_length=320)]
Confirmed = Annotated[bool, Form()]


def _members_url(org: str) -> str:
    return f"/app/{org}/-/members"


def _grants_url(org: str) -> str:
    return f"/app/{org}/-/grants"


def _confirm(confirmed: bool, what: str) -> None:
    if not confirmed:
        raise InvalidInput(f"Tick “I understand” to {what}.")


# ------------------------------------------------------------------------------------------------ members


@router.get("/app/{org}/-/members", response_class=HTMLResponse)
async def members_page(request: Request, viewer: SignedIn, org: OrgName) -> HTMLResponse:
    """The org's members and their roles, with forms to add, change and remove them."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    async with viewer.ctx.reader.connect() as conn:
        found = await members.list_members(conn, call.member)
        joined = await members.joined(conn, call.member)
    rows = [(m, *joined.get(str(m.principal_id), (None, False))) for m in found]
    return render(
        request,
        viewer,
        "app/org_members.html",
        title=f"Members of {org}",
        org=org,
        section="members",
        rows=[r for r in rows if not r[2]],
        invited=[r for r in rows if r[2]],
        roles=list(OrgRole),
        role_help=ROLE_HELP,
    )


@router.post("/app/{org}/-/members", response_class=RedirectResponse)
async def add_member(
    viewer: FormPost, org: OrgName, principal: Principal, role: Annotated[OrgRole, Form()]
) -> RedirectResponse:
    """Add a user (by email: invited if the address has no account) or an API client (by id)."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    async with viewer.ctx.engine.begin() as conn:
        added = await members.add_member(conn, call.member, principal.strip(), role, actor=viewer.principal)
    return redirect_with_message(viewer, _members_url(org), f"Added {added.email} to {org} as {role.value}.")


@router.post("/app/{org}/-/members/{principal_id}/role", response_class=RedirectResponse)
async def set_role(
    viewer: FormPost, org: OrgName, principal_id: str, role: Annotated[OrgRole, Form()]
) -> RedirectResponse:
    """Change a member's role (the domain keeps the org's last admin)."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    async with viewer.ctx.engine.begin() as conn:
        changed = await members.set_role(conn, call.member, principal_id, role, actor=viewer.principal)
    demoted_self = principal_id == viewer.principal.id and role != OrgRole.ADMIN
    url = f"/app/{org}" if demoted_self else _members_url(org)  # the members page is no longer theirs
    return redirect_with_message(viewer, url, f"{changed.email} is now {changed.role.value} in {org}.")


@router.post("/app/{org}/-/members/{principal_id}/remove", response_class=RedirectResponse)
async def remove_member(
    viewer: FormPost, org: OrgName, principal_id: str, confirm: Confirmed = False
) -> RedirectResponse:
    """Remove a member, once confirmed (the domain keeps the org's last admin)."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    _confirm(confirm, "remove this member")
    async with viewer.ctx.engine.begin() as conn:
        shown = {str(m.principal_id): m.email for m in await members.list_members(conn, call.member)}
        await members.remove_member(conn, call.member, principal_id, actor=viewer.principal)
    url = "/app" if principal_id == viewer.principal.id else _members_url(org)
    who = shown.get(principal_id, principal_id)
    return redirect_with_message(viewer, url, f"Removed {who} from {org}.")


# ------------------------------------------------------------------------------------------------ grants


@router.get("/app/{org}/-/grants", response_class=HTMLResponse)
async def grants_page(request: Request, viewer: SignedIn, org: OrgName) -> HTMLResponse:
    """Every repo grant of the org, with forms to add and revoke them."""
    call = viewer.in_org(org, Action.MANAGE_MEMBERS)
    async with viewer.ctx.reader.connect() as conn:
        found = await grants.list_org_grants(conn, call.member)
    return render(
        request,
        viewer,
        "app/org_grants.html",
        title=f"Repo grants of {org}",
        org=org,
        section="grants",
        grants=found,
        actions=list(RepoActions),
    )


@router.post("/app/{org}/-/grants", response_class=RedirectResponse)
async def add_grant(
    viewer: FormPost,
    org: OrgName,
    repo: Annotated[str, Form(min_length=1, max_length=128)],
    principal: Principal,
    action: Annotated[RepoActions, Form()],
) -> RedirectResponse:
    """Grant an action on one repo to a user (by email or id) or an API client of the org."""
    viewer.in_org(org, Action.MANAGE_MEMBERS)
    on = viewer.on_repo(org, repo.strip(), RepoActions.CAN_MANAGE_USERS)
    async with viewer.ctx.engine.begin() as conn:
        row = await repo_row(conn, on.scope, on.repo)
        await grants.grant(conn, on.scope, row, principal.strip(), [action], viewer.principal)
    text = f"Granted {action.value} on {on.repo} to {principal.strip()}."
    return redirect_with_message(viewer, _grants_url(org), text)


@router.post("/app/{org}/-/grants/{repo}/{principal_id}/revoke", response_class=RedirectResponse)
async def revoke_grant(
    viewer: FormPost,
    org: OrgName,
    repo: RepoName,
    principal_id: str,
    action: Annotated[RepoActions | None, Form()] = None,
) -> RedirectResponse:
    """Take back one granted action, or all of a principal's actions on the repo."""
    viewer.in_org(org, Action.MANAGE_MEMBERS)
    on = viewer.on_repo(org, repo, RepoActions.CAN_MANAGE_USERS)
    async with viewer.ctx.engine.begin() as conn:
        row = await repo_row(conn, on.scope, on.repo)
        await grants.revoke(
            conn, on.scope, row, principal_id, [action] if action else None, actor=viewer.principal
        )
        who = (await members.resolve_principal(conn, on.scope, principal_id)).email
    what = action.value if action else "all granted actions"
    return redirect_with_message(viewer, _grants_url(org), f"Revoked {what} on {repo} from {who}.")
