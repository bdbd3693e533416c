"""Repo endpoints, in the hosted service's paths: ``/orgs/{org}/repos``, ``/repos/{org}/{repo}``,
``/orgs/{org}/{repo}``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from arraylake.server import faults
from arraylake.server.deps import (
    OrgListing,
    OrgName,
    RepoAccess,
    RepoAccessOrReservation,
    RepoCreator,
    RepoLister,
    RepoManager,
    RepoName,
    RepoReader,
    RepoWriter,
)
from arraylake.server.errors import Forbidden, InvalidInput
from arraylake.server.logs import get_logger
from arraylake.server.maintenance import settings as maintenance_settings
from arraylake.server.repos import deletion, lifecycle, listing, opening
from arraylake.server.repos.cleanup import Cleaner
from arraylake.server.repos.metadata_index import parse_filter
from arraylake.server.repos.records import cached_repo_record, record_to_wire, repo_row, status_of
from arraylake.server.repos.records import get_repo as repo_as_wire
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
    VirtualChunkCredentials,
)
from arraylake.types.maintenance import OptimizationConfig

router = APIRouter(tags=["repos"])
log = get_logger("arraylake.server.repos")


@router.get("/orgs/{org}/repos", response_model=list[Repo])
async def list_repos(call: OrgListing) -> list[Repo]:
    """Every repo of the org the caller may see, unpaginated (older clients use this)."""
    async with call.ctx.reader.connect() as conn:
        return await listing.list_all_repos(conn, call.ctx.codec, call.scope, only_names=call.names)


@router.get("/orgs/{org}/repos/paginated", response_model=PaginatedRepos)
async def list_repos_paginated(
    call: OrgListing,
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
) -> Response:
    """A page of the org's repos, by name; ``filter_metadata`` keeps repos matching every pair."""
    filters = parse_filter(filter_metadata)
    if after is not None and include_ghosts:
        raise InvalidInput("after cannot be combined with include_ghosts (ghosts share names): use page")
    async with call.ctx.reader.connect() as conn:
        page_of_repos = await listing.list_repos(
            conn,
            call.ctx.codec,
            call.scope,
            page=page,
            size=size,
            filters=filters,
            include_ghosts=include_ghosts and call.names is None,
            only_names=call.names,
            after=after,
            anchors=call.ctx.page_anchors,
        )
    return wire_json(page_of_repos)


@router.post("/orgs/{org}/repos", response_model=Repo, status_code=201)
async def create_repo(body: RepoCreateBody, call: RepoCreator) -> Repo:
    """Record a new repo (``create_mode`` ``register``), or reserve it until activated (``create``)."""
    ctx = call.ctx
    faults.fail_point(ctx.settings, faults.CREATE_FAILS)
    async with ctx.engine.begin() as conn:
        repo, _ = await lifecycle.create_repo(conn, ctx.codec, ctx.vendor, call.member, call.principal, body)
    faults.crash_point(ctx.settings, faults.CREATE_AFTER_RESERVE)
    return repo


@router.post("/orgs/{org}/repos/import", response_model=Repo, status_code=201)
async def import_repo(body: RepoImportBody, call: RepoCreator) -> Repo:
    """Register an Icechunk repository that already exists in one of the org's buckets."""
    ctx = call.ctx
    async with ctx.engine.begin() as conn:
        repo, _ = await lifecycle.create_repo(
            conn, ctx.codec, ctx.vendor, call.member, call.principal, body.as_create_body()
        )
    return repo


@router.get("/repos/{org}/{repo}", response_model=Repo)
async def get_repo(call: RepoReader) -> Response:
    record = await cached_repo_record(call.ctx.catalog, call.ctx.reader, call.scope, call.repo)
    return wire_json(await record_to_wire(call.ctx.codec, call.scope, record))


@router.get("/repos/{org}/{repo}/open", response_model=OpenRepoResponse)
async def open_repo(call: RepoAccess) -> Response:
    """Everything a client needs to open the repo, in one round trip, with credentials for the access the
    caller asks for (default: the most its rights allow)."""
    return wire_json(await opening.open_repo(call))


@router.get("/repos/{org}/{repo}/bucket-credentials", response_model=AnyCredentials | None)
async def repo_credentials(call: RepoAccessOrReservation) -> AnyCredentials | None:
    """Storage credentials for the repo's prefix only (``null`` when its bucket needs none).

    Also answers the creator of a repo still being created (``create`` mode), for writing it.
    """
    return await opening.bucket_credentials(call)


@router.get("/repos/{org}/{repo}/virtual-chunk-credentials", response_model=VirtualChunkCredentials)
async def virtual_chunk_credentials(
    call: RepoReader,
    url_prefix: str = Query(
        description="A virtual chunk container of the repo: a key of virtual_chunk_credentials in /open"
    ),
) -> VirtualChunkCredentials:
    """Fresh credentials for one virtual chunk container of the repo, as ``/open`` hands them out (404 if
    the org's policies do not let this repo's readers read it)."""
    return await opening.container_credentials(call, url_prefix)


@router.post("/orgs/{org}/{repo}/activate", response_model=OpenRepoResponse)
async def activate_repo(org: OrgName, repo: RepoName, call: RepoCreator) -> Response:
    """Finish a ``create``-mode creation once the Icechunk repository exists (idempotent); answers as
    ``/open`` does for writing."""
    # The names are declared first so that a malformed one is a 422 before the caller is looked at.
    return wire_json(await opening.activate(call, repo))


@router.patch("/orgs/{org}/{repo}", response_model=Repo)
async def modify_repo(change: RepoModifyRequest, call: RepoWriter) -> Repo:
    """Change the description or metadata, and with ``optimization_config`` (for those who may manage the
    repo) replace its maintenance policy (``null``: back to the org's default)."""
    new_policy = "optimization_config" in change.model_fields_set
    if new_policy and not call.may(RepoActions.CAN_MANAGE_USERS):
        raise Forbidden(
            f"changing the maintenance policy (optimization_config) of {call.org}/{call.repo} needs the "
            "right to manage the repo; description and metadata need only write access"
        )
    async with call.ctx.engine.begin() as conn:
        repo = await lifecycle.modify_repo(conn, call.ctx.codec, call.scope, call.repo, change)
        if not new_policy:
            return repo
        policy = change.optimization_config or OptimizationConfig()
        await maintenance_settings.set_repo_policy(
            conn, call.ctx.settings, call.scope, call.repo, policy, call.principal
        )
        return await repo_as_wire(conn, call.ctx.codec, call.scope, call.repo)


@router.get("/orgs/{org}/{repo}/status", response_model=RepoOperationStatusResponse)
async def get_status(call: RepoReader) -> RepoOperationStatusResponse:
    async with call.ctx.reader.connect() as conn:
        return status_of(await repo_row(conn, call.scope, call.repo))


@router.put("/orgs/{org}/{repo}/status", response_model=RepoOperationStatusResponse)
async def set_status(change: RepoOperationStatusUpdate, call: RepoWriter) -> RepoOperationStatusResponse:
    """Put a repo online, in maintenance (read-only) or offline."""
    async with call.ctx.engine.begin() as conn:
        return await lifecycle.set_status(conn, call.scope, call.principal, call.repo, change)


@router.post("/orgs/{org}/{repo}/restore", response_model=Repo)
async def restore_repo(call: RepoManager) -> Repo:
    """Bring back a soft-deleted repo before its grace period ends."""
    async with call.ctx.engine.begin() as conn:
        return await deletion.restore_repo(conn, call.ctx.codec, call.scope, call.principal, call.repo)


@router.delete(
    "/orgs/{org}/{repo}", status_code=204, responses={202: {"description": "data removal continues"}}
)
async def delete_repo(
    call: RepoManager,
    immediate: bool = Query(default=False, description="Skip the grace period: remove now"),
    retain_data: bool = Query(default=False, description="Keep the data in the bucket"),
    wait: bool = Query(
        default=True,
        description="Wait (a while) for the data to be removed; false answers 202 at once, and the removal "
        "can be followed at /orgs/{org}/repos/deletions/{repo_id}",
    ),
) -> Response:
    """Delete a repo: soft by default (a restorable ghost), ``immediate`` to remove it now.

    Answers 204 once the data is gone, or 202 with the ``repo_id`` if removing it takes longer than the
    service waits or ``wait`` is false (it then finishes in the background, and after a restart if the
    service stops).
    """
    ctx, org, repo = call.ctx, call.org, call.repo
    async with ctx.engine.begin() as conn:
        repo_id = await deletion.delete_repo(
            conn,
            call.scope,
            call.principal,
            repo,
            immediate=immediate,
            retain_data=retain_data,
            grace_seconds=ctx.settings.deletion_grace_seconds,
        )
    if repo_id is None:
        return Response(status_code=204)
    purge = ctx.spawn(Cleaner(ctx.engine, ctx.codec, ctx.vendor).purge(repo_id))
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
    call: RepoLister,
    repo_id: str = Path(max_length=64, description="The repo_id of a 202 answer to a delete"),
) -> RepoDeletionProgress:
    """How many objects the removal of a deleted repo's data has removed so far."""
    async with call.ctx.reader.connect() as conn:
        return await deletion.deletion_progress(conn, call.member, repo_id)
