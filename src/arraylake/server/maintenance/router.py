"""Maintenance endpoints: a repo's policy and runs, and an org's default policy.

Setting a repo's policy, or running it for real, needs the right to manage the repo (expiration removes
history for good); a dry run deletes nothing, so those who may write the repo may ask for one.
``optimization`` is a reserved repo name, so ``/orgs/{org}/optimization`` never shadows a repo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Path, Query, Response

from arraylake.server.deps import InOrg, MemberMay, OrgViewer, RepoManager, RepoReader
from arraylake.server.errors import Forbidden, NotFound
from arraylake.server.maintenance import runs, settings
from arraylake.server.policy import Action
from arraylake.server.repos.records import repo_row
from arraylake.server.wire import wire_json
from arraylake.types import RepoActions
from arraylake.types.maintenance import (
    MaintenanceRun,
    MaintenanceRunPage,
    MaintenanceRunRequest,
    OptimizationConfig,
    RepoMaintenance,
)

router = APIRouter(tags=["maintenance"])

if TYPE_CHECKING:
    MaintenanceManager = InOrg
else:
    MaintenanceManager = MemberMay(Action.MANAGE_MAINTENANCE)


@router.get("/orgs/{org}/optimization", response_model=OptimizationConfig)
async def get_org_policy(call: OrgViewer) -> Response:
    """The org's default maintenance policy: what its repos use for the parts they leave unset."""
    async with call.ctx.reader.connect() as conn:
        return wire_json(await settings.org_policy(conn, call.ctx.settings, call.member))


@router.put("/orgs/{org}/optimization", response_model=OptimizationConfig)
async def set_org_policy(config: OptimizationConfig, call: MaintenanceManager) -> Response:
    """Replace the org's default maintenance policy (org admins)."""
    async with call.ctx.engine.begin() as conn:
        return wire_json(
            await settings.set_org_policy(conn, call.ctx.settings, call.member, config, call.principal)
        )


@router.get("/orgs/{org}/{repo}/maintenance", response_model=RepoMaintenance)
async def get_repo_maintenance(call: RepoReader) -> Response:
    """The repo's own policy, what applies to it and from where, its next window, last run and size."""
    async with call.ctx.reader.connect() as conn:
        return wire_json(await settings.repo_maintenance(conn, call.ctx.settings, call.scope, call.repo))


@router.put("/orgs/{org}/{repo}/maintenance", response_model=RepoMaintenance)
async def set_repo_maintenance(config: OptimizationConfig, call: RepoManager) -> Response:
    """Replace the repo's own policy; parts left ``null`` fall back to the org's default."""
    async with call.ctx.engine.begin() as conn:
        return wire_json(
            await settings.set_repo_policy(
                conn, call.ctx.settings, call.scope, call.repo, config, call.principal
            )
        )


@router.post("/orgs/{org}/{repo}/maintenance/runs", status_code=202, response_model=MaintenanceRun)
async def request_run(request: MaintenanceRunRequest, call: RepoReader) -> Response:
    """Run the repo's maintenance now, outside its window; a worker picks the run up shortly.

    A dry run reports what would be expired and reclaimed and deletes nothing: those who may write or
    manage the repo may ask for one. A real run deletes history: only those who may manage the repo.
    """
    manages = call.may(RepoActions.CAN_MANAGE_USERS)
    if not request.dry_run and not manages:
        raise Forbidden(
            f"running maintenance on {call.org}/{call.repo} deletes history and needs the right to manage "
            "the repo; a dry run (dry_run=true) needs only write access"
        )
    if not manages and not call.may(RepoActions.CAN_WRITE):
        raise Forbidden(f"a dry run of maintenance on {call.org}/{call.repo} needs write access to the repo")
    async with call.ctx.engine.begin() as conn:
        run = await settings.request_repo_run(
            conn, call.ctx.settings, call.scope, call.repo, dry_run=request.dry_run, principal=call.principal
        )
    return wire_json(run, status_code=202)


@router.get("/orgs/{org}/{repo}/maintenance/runs", response_model=MaintenanceRunPage)
async def list_runs(
    call: RepoReader,
    limit: int = Query(default=20, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=200, description="next_cursor of the previous page"),
) -> Response:
    """The repo's maintenance runs, newest first."""
    async with call.ctx.reader.connect() as conn:
        row = await repo_row(conn, call.scope, call.repo)
        return wire_json(await runs.list_runs(conn, row.id, call.org, row.name, limit=limit, cursor=cursor))


@router.get("/orgs/{org}/{repo}/maintenance/runs/{run_id}", response_model=MaintenanceRun)
async def get_run(call: RepoReader, run_id: str = Path(max_length=64)) -> Response:
    """One maintenance run of the repo, with its report once it has ended."""
    async with call.ctx.reader.connect() as conn:
        row = await repo_row(conn, call.scope, call.repo)
        run = await runs.get_run(conn, row.id, run_id)
    if run is None:
        raise NotFound(f"no maintenance run {run_id} of repo {call.org}/{call.repo}")
    return wire_json(runs.to_wire(run, call.org, row.name))
