"""``/repos/{org}/{repo}/grants``: who may do what on one repo, beyond their org role."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from arraylake.server.context import AppContext, app_context, current_principal
from arraylake.server.identity.principals import Principal
from arraylake.server.paths import org_name, repo_name
from arraylake.server.policy import may_manage_repo_access
from arraylake.server.repos import grants
from arraylake.server.repos.service import repo_row
from arraylake.types import RepoActions, RepoGrant, RepoGrantRequest

router = APIRouter(tags=["access"])


@router.get("/repos/{org}/{repo}/grants", response_model=list[RepoGrant])
async def list_grants(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[RepoGrant]:
    """The principals granted actions on this repo (beyond their org roles)."""
    scope = may_manage_repo_access(principal, org, repo)
    async with ctx.reader.connect() as conn:
        return await grants.list_grants(conn, await repo_row(conn, scope, repo))


@router.post("/repos/{org}/{repo}/grants", response_model=list[RepoGrant])
async def add_grant(
    body: RepoGrantRequest,
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[RepoGrant]:
    """Grant actions on this repo to a user (by email or id) or an API client of the org."""
    scope = may_manage_repo_access(principal, org, repo)
    async with ctx.engine.begin() as conn:
        result = await grants.grant(
            conn, scope, await repo_row(conn, scope, repo), body.principal, body.actions, principal.id
        )
    return result


@router.delete("/repos/{org}/{repo}/grants/{grantee}", response_model=list[RepoGrant])
async def revoke_grant(
    grantee: str = Path(description="Email or principal id"),
    action: list[RepoActions] | None = Query(default=None, description="Only these actions (default: all)"),
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[RepoGrant]:
    """Take back granted actions (all of them unless ``action`` names some)."""
    scope = may_manage_repo_access(principal, org, repo)
    async with ctx.engine.begin() as conn:
        result = await grants.revoke(conn, scope, await repo_row(conn, scope, repo), grantee, action)
    return result
