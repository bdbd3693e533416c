"""Discovery, as the hosted service offers it under ``/{org}/_meta/discovery``:

- ``/{org}/_meta/discovery``: the names of the org's repos the caller may read, ``["repo", ...]``;
- ``/{org}/_meta/discovery/{repo}``: ``{"branches": [...], "tags": [...]}``;
- ``/{org}/_meta/discovery/{repo}/{ref}[?group=]``: the paths of the groups under ``group`` that hold
  arrays, i.e. the datasets a data URL can name (``""`` is the root group).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from arraylake.dataplane.access import RepoAccess, caller_of, check_org
from arraylake.dataplane.refs import resolve_ref

if TYPE_CHECKING:
    import icechunk

    from arraylake.dataplane.settings import DataPlaneSettings


def dataset_groups(repo: icechunk.Repository, snapshot: str, group: str) -> list[str]:
    """Paths of ``group`` and its descendants that directly hold arrays, sorted."""
    import zarr

    store = repo.readonly_session(snapshot_id=snapshot).store
    try:
        root = zarr.open_group(store, path=group or None, mode="r", zarr_format=3)
    except (FileNotFoundError, KeyError, zarr.errors.GroupNotFoundError, zarr.errors.NodeTypeValidationError):
        raise HTTPException(status_code=404, detail=f"no group {group!r} at this ref") from None
    prefix = f"{group}/" if group else ""
    found: set[str] = set()
    for path, node in root.members(max_depth=None):
        if isinstance(node, zarr.Array):
            parent = path.rpartition("/")[0]
            found.add(prefix + parent if parent else group)
    return sorted(found)


def discovery_router(settings: DataPlaneSettings, access: RepoAccess) -> APIRouter:
    router = APIRouter(prefix="/{org}/_meta/discovery", tags=["discovery"])

    @router.get("")
    async def list_repos(org: str, request: Request) -> list[str]:
        """The org's repos the caller may read."""
        check_org(org, settings)
        caller = caller_of(request.headers.get("authorization"), settings)
        return sorted(await access.list_repos(caller, org))

    @router.get("/{repo}")
    async def list_refs(org: str, repo: str, request: Request) -> dict[str, list[str]]:
        """The repo's branches and tags."""
        check_org(org, settings)
        opened = await access.open(caller_of(request.headers.get("authorization"), settings), org, repo)
        branches = await opened.list_branches_async()
        tags = await opened.list_tags_async()
        return {"branches": sorted(branches), "tags": sorted(tags)}

    @router.get("/{repo}/{ref}")
    async def list_datasets(
        org: str,
        repo: str,
        ref: str,
        request: Request,
        group: Annotated[str, Query(description="Only the datasets under this group path")] = "",
    ) -> list[str]:
        """The dataset groups at the ref (under ``group``)."""
        check_org(org, settings)
        opened = await access.open(caller_of(request.headers.get("authorization"), settings), org, repo)
        resolved = await resolve_ref(opened, ref, what=f"{org}/{repo}")
        return await run_in_threadpool(dataset_groups, opened, resolved.snapshot, group.strip("/"))

    return router
