"""``/repos/{org}/{repo}/grants``: who may do what on one repo, beyond their org role."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from arraylake.server.deps import RepoManager
from arraylake.server.repos import grants
from arraylake.server.repos.records import repo_row
from arraylake.types import RepoActions, RepoGrant, RepoGrantRequest

router = APIRouter(tags=["access"])

# Org admins and holders of CAN_MANAGE_USERS on the repo may change who can reach it (RepoManager).


@router.get("/repos/{org}/{repo}/grants", response_model=list[RepoGrant])
async def list_grants(call: RepoManager) -> list[RepoGrant]:
    """The principals granted actions on this repo (beyond their org roles)."""
    async with call.ctx.reader.connect() as conn:
        return await grants.list_grants(conn, await repo_row(conn, call.scope, call.repo))


@router.post("/repos/{org}/{repo}/grants", response_model=list[RepoGrant])
async def add_grant(body: RepoGrantRequest, call: RepoManager) -> list[RepoGrant]:
    """Grant actions on this repo to a user (by email or id) or an API client of the org."""
    async with call.ctx.engine.begin() as conn:
        row = await repo_row(conn, call.scope, call.repo)
        return await grants.grant(conn, call.scope, row, body.principal, body.actions, call.principal)


@router.delete("/repos/{org}/{repo}/grants/{grantee}", response_model=list[RepoGrant])
async def revoke_grant(
    call: RepoManager,
    grantee: str = Path(description="Email or principal id"),
    action: list[RepoActions] | None = Query(default=None, description="Only these actions (default: all)"),
) -> list[RepoGrant]:
    """Take back granted actions (all of them unless ``action`` names some)."""
    async with call.ctx.engine.begin() as conn:
        row = await repo_row(conn, call.scope, call.repo)
        return await grants.revoke(conn, call.scope, row, grantee, action, actor=call.principal)
