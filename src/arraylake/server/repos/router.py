"""Repo endpoints, in the hosted service's paths: ``/orgs/{org}/repos``, ``/repos/{org}/{repo}``,
``/orgs/{org}/{repo}``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse

from arraylake.server import faults
from arraylake.server.buckets.service import BucketCodec
from arraylake.server.context import AppContext, app_context, current_principal
from arraylake.server.errors import Forbidden, InvalidInput, NotFound
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.server.logs import get_logger
from arraylake.server.paths import org_name, repo_name
from arraylake.server.policy import Access, Action, authorize, authorize_repo, repo_actions, visible_repos
from arraylake.server.repos import service
from arraylake.server.repos.cleanup import Cleaner
from arraylake.server.repos.metadata_index import parse_filter
from arraylake.server.wire import wire_json
from arraylake.types import (
    AnyCredentials,
    OpenRepoResponse,
    PaginatedRepos,
    Repo,
    RepoActions,
    RepoCreateBody,
    RepoDeletionProgress,
    RepoImportBody,
    RepoModifyRequest,
    RepoOperationStatusResponse,
    RepoOperationStatusUpdate,
)

router = APIRouter(tags=["repos"])
log = get_logger("arraylake.server.repos")


def codec(ctx: AppContext) -> BucketCodec:
    return BucketCodec(ctx.settings, ctx.secrets)


@router.get("/orgs/{org}/repos", response_model=list[Repo])
async def list_repos(
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[Repo]:
    """Every repo of the org the caller may see, unpaginated (older clients use this)."""
    scope, names = visible_repos(principal, org)
    async with ctx.reader.connect() as conn:
        return await service.list_all_repos(conn, codec(ctx), scope, only_names=names)


@router.get("/orgs/{org}/repos/paginated", response_model=PaginatedRepos)
async def list_repos_paginated(
    org: str = Depends(org_name),
    page: int = Query(default=1, ge=1, le=1_000_000),
    size: int = Query(default=50, ge=1, le=1000),
    filter_metadata: str | None = Query(default=None, description='JSON object, e.g. {"project": "era5"}'),
    include_ghosts: bool = Query(default=False, description="Also list soft-deleted repos"),
    after: str | None = Query(
        default=None,
        max_length=128,
        description="Cursor: the repos whose names come after this one (the last name of the previous "
        "page). Pages then cost the same at any depth; `page` is ignored and answered as 0.",
    ),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """A page of the org's repos, by name; ``filter_metadata`` keeps repos matching every pair."""
    scope, names = visible_repos(principal, org)
    filters = parse_filter(filter_metadata)
    if after is not None and include_ghosts:
        raise InvalidInput("after cannot be combined with include_ghosts (ghosts share names): use page")
    async with ctx.reader.connect() as conn:
        page_of_repos = await service.list_repos(
            conn,
            codec(ctx),
            scope,
            page=page,
            size=size,
            filters=filters,
            include_ghosts=include_ghosts and names is None,
            only_names=names,
            after=after,
            anchors=ctx.page_anchors,
        )
    return wire_json(page_of_repos)


@router.post("/orgs/{org}/repos", response_model=Repo, status_code=201)
async def create_repo(
    body: RepoCreateBody,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Repo:
    """Record a new repo (``create_mode`` ``register``), or reserve it until activated (``create``)."""
    faults.fail_point(ctx.settings, faults.CREATE_FAILS)
    member = authorize(principal, org, Action.CREATE_REPO)
    async with ctx.engine.begin() as conn:
        repo, _ = await service.create_repo(conn, codec(ctx), ctx.vendor, member, principal, body)
    faults.crash_point(ctx.settings, faults.CREATE_AFTER_RESERVE)
    return repo


@router.post("/orgs/{org}/repos/import", response_model=Repo, status_code=201)
async def import_repo(
    body: RepoImportBody,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Repo:
    """Register an Icechunk repository that already exists in one of the org's buckets."""
    member = authorize(principal, org, Action.CREATE_REPO)
    async with ctx.engine.begin() as conn:
        repo, _ = await service.create_repo(
            conn, codec(ctx), ctx.vendor, member, principal, body.as_create_body()
        )
    return repo


@router.get("/repos/{org}/{repo}", response_model=Repo)
async def get_repo(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    scope = authorize_repo(principal, org, repo, RepoActions.CAN_READ)
    record = await service.cached_repo_record(ctx.catalog, ctx.reader, scope, repo)
    return wire_json(await service.record_to_wire(codec(ctx), scope, record))


def _access(principal: Principal, org: str, repo: str, access: Access | None) -> tuple[OrgScope, bool, bool]:
    """The repo's org, whether to hand out write access (as asked, or the most the caller may have), and
    whether the caller may write there at all."""
    scope = authorize_repo(
        principal, org, repo, RepoActions.CAN_WRITE if access == "write" else RepoActions.CAN_READ
    )
    may_write = RepoActions.CAN_WRITE in repo_actions(principal, org, repo)
    write = access == "write" or (access is None and may_write)
    return scope, write, may_write


@router.get("/repos/{org}/{repo}/open", response_model=OpenRepoResponse)
async def open_repo(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    access: Access | None = Query(default=None, description="read or write; default: the most allowed"),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Everything a client needs to open the repo, in one round trip, with credentials for the access the
    caller asks for (default: the most its rights allow)."""
    scope, write, may_write = _access(principal, org, repo, access)
    record = await service.cached_repo_record(ctx.catalog, ctx.reader, scope, repo)
    return wire_json(
        await service.open_info(
            codec(ctx),
            ctx.vendor,
            scope,
            principal,
            record,
            write=write,
            may_write=may_write,
            containers=ctx.containers,
        )
    )


@router.get("/repos/{org}/{repo}/bucket-credentials", response_model=AnyCredentials | None)
async def repo_credentials(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    access: Access | None = Query(default=None, description="read or write; default: the most allowed"),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> AnyCredentials | None:
    """Storage credentials for the repo's prefix only (``null`` when its bucket needs none).

    Also answers the creator of a repo still being created (``create`` mode), for writing it.
    """
    try:
        scope, write, may_write = _access(principal, org, repo, access)
        record = await service.cached_repo_record(ctx.catalog, ctx.reader, scope, repo)
        bucket, prefix = service.record_bucket(codec(ctx), scope, record), record.repo.prefix
    except (NotFound, Forbidden):
        async with ctx.reader.connect() as conn:
            reserved = await service.reservation_of(conn, principal, org, repo)
            if reserved is None:
                raise
            scope, row, write = reserved
            may_write = write
            bucket, prefix = await service.internal_bucket(conn, codec(ctx), scope, row), row.prefix
    return await ctx.vendor.credentials(
        bucket, prefix, write=write, principal_id=principal.id, may_write=may_write
    )


@router.post("/orgs/{org}/{repo}/activate", response_model=OpenRepoResponse)
async def activate_repo(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> OpenRepoResponse:
    """Finish a ``create``-mode creation once the Icechunk repository exists (idempotent)."""
    member = authorize(principal, org, Action.CREATE_REPO)
    async with ctx.engine.begin() as conn:
        return await service.activate_repo(conn, codec(ctx), ctx.vendor, member, principal, repo)


@router.patch("/orgs/{org}/{repo}", response_model=Repo)
async def modify_repo(
    change: RepoModifyRequest,
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Repo:
    """Change the description or metadata."""
    scope = authorize_repo(principal, org, repo, RepoActions.CAN_WRITE)
    async with ctx.engine.begin() as conn:
        return await service.modify_repo(conn, codec(ctx), scope, repo, change)


@router.get("/orgs/{org}/{repo}/status", response_model=RepoOperationStatusResponse)
async def get_status(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> RepoOperationStatusResponse:
    scope = authorize_repo(principal, org, repo, RepoActions.CAN_READ)
    async with ctx.reader.connect() as conn:
        return service.status_of(await service.repo_row(conn, scope, repo))


@router.put("/orgs/{org}/{repo}/status", response_model=RepoOperationStatusResponse)
async def set_status(
    change: RepoOperationStatusUpdate,
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> RepoOperationStatusResponse:
    """Put a repo online, in maintenance (read-only) or offline."""
    scope = authorize_repo(principal, org, repo, RepoActions.CAN_WRITE)
    async with ctx.engine.begin() as conn:
        return await service.set_status(conn, scope, principal, repo, change)


@router.post("/orgs/{org}/{repo}/restore", response_model=Repo)
async def restore_repo(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Repo:
    """Bring back a soft-deleted repo before its grace period ends."""
    scope = authorize_repo(principal, org, repo, RepoActions.CAN_MANAGE_USERS)
    async with ctx.engine.begin() as conn:
        return await service.restore_repo(conn, codec(ctx), scope, repo)


@router.delete(
    "/orgs/{org}/{repo}", status_code=204, responses={202: {"description": "data removal continues"}}
)
async def delete_repo(
    org: str = Depends(org_name),
    repo: str = Depends(repo_name),
    immediate: bool = Query(default=False, description="Skip the grace period: remove now"),
    retain_data: bool = Query(default=False, description="Keep the data in the bucket"),
    wait: bool = Query(
        default=True,
        description="Wait (a while) for the data to be removed; false answers 202 at once, and the removal "
        "can be followed at /orgs/{org}/repos/deletions/{repo_id}",
    ),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Delete a repo: soft by default (a restorable ghost), ``immediate`` to remove it now.

    Answers 204 once the data is gone, or 202 with the ``repo_id`` if removing it takes longer than the
    service waits or ``wait`` is false (it then finishes in the background, and after a restart if the
    service stops).
    """
    scope = authorize_repo(principal, org, repo, RepoActions.CAN_MANAGE_USERS)
    async with ctx.engine.begin() as conn:
        repo_id = await service.delete_repo(
            conn,
            scope,
            principal,
            repo,
            immediate=immediate,
            retain_data=retain_data,
            grace_seconds=ctx.settings.deletion_grace_seconds,
        )
    if repo_id is None:
        return Response(status_code=204)
    purge = ctx.spawn(Cleaner(ctx.engine, codec(ctx), ctx.vendor).purge(repo_id))
    removing = {"detail": f"repo {org}/{repo} deleted; its data is being removed", "repo_id": repo_id}
    try:
        await asyncio.wait_for(
            asyncio.shield(purge), timeout=ctx.settings.inline_delete_seconds if wait else 0
        )
    except TimeoutError:
        return JSONResponse(removing, status_code=202)
    except Exception as exc:
        log.warning("repo data removal failed; the janitor will retry", repo_id=repo_id, error=str(exc))
        return JSONResponse(
            {
                "detail": f"repo {org}/{repo} deleted; removing its data failed and will be retried",
                "repo_id": repo_id,
            },
            status_code=202,
        )
    return Response(status_code=204)


@router.get("/orgs/{org}/repos/deletions/{repo_id}", response_model=RepoDeletionProgress)
async def deletion_progress(
    repo_id: str = Path(max_length=64, description="The repo_id of a 202 answer to a delete"),
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> RepoDeletionProgress:
    """How many objects the removal of a deleted repo's data has removed so far."""
    scope = authorize(principal, org, Action.LIST_REPOS)
    async with ctx.reader.connect() as conn:
        return await service.deletion_progress(conn, scope, repo_id)
