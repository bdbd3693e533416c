"""A repo's pages: overview, the group/array tree of a ref, branches and tags, commit history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from arraylake.server.browse.history import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    Commit,
    history,
    list_refs,
    ref_names,
    snapshot,
)
from arraylake.server.browse.opening import MAX_REF_LENGTH, open_for_viewer, resolve_ref, session_at
from arraylake.server.browse.tree import MAX_NODES, read_tree
from arraylake.server.browse.tree import node_or_404 as tree_node
from arraylake.server.deps import OnRepo, OrgName, RepoName
from arraylake.server.logs import get_logger
from arraylake.server.orgs.members import list_members
from arraylake.server.policy import Action
from arraylake.server.repos.grants import list_grants
from arraylake.server.repos.records import cached_repo_record, record_to_wire
from arraylake.server.web.rendering import render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.urls import public_base
from arraylake.server.web.viewer import SignedIn
from arraylake.types import OrgMember, RepoActions, RepoKind

router = pages_router()
log = get_logger(__name__)

STORAGE_SECONDS = 10.0
"""How long the overview waits for storage before it shows the catalog facts alone."""
MAX_PATH_QUERY = 1024
MAX_PEOPLE = 50
"""People the overview names per role (a large org's members are counted beyond that)."""

Ref = Annotated[str | None, Query(max_length=MAX_REF_LENGTH, description="A branch, a tag or a snapshot id")]

_CAN = [
    (RepoActions.CAN_READ, "read"),
    (RepoActions.CAN_WRITE, "write (commit, branch, tag)"),
    (RepoActions.CAN_MANAGE_USERS, "manage who has access, delete it"),
    (RepoActions.CAN_READ_WITH_FLUX, "serve it through compute services"),
    (RepoActions.CAN_SYNC, "sync it"),
]
_ROLES = [("admin", "Admins"), ("repo_writer", "Writers"), ("repo_reader", "Readers")]


def _may_change(on: OnRepo) -> bool:
    return on.may(RepoActions.CAN_WRITE) or on.may(RepoActions.CAN_MANAGE_USERS)


@dataclass(frozen=True)
class Contents:
    """What the overview shows from storage: ref counts and the latest commit on ``main``."""

    branches: int
    tags: int
    latest: Commit | None
    latest_ref: str | None


async def _contents(on: OnRepo, kind: RepoKind) -> tuple[Contents | None, str | None]:
    """The overview's storage facts, or a note saying why there are none (never an error: the catalog
    facts must show whatever storage does)."""
    if kind != RepoKind.Icechunk:
        return None, "This is a legacy V1 repo: open it with the V1 client to see its contents."
    try:
        async with asyncio.timeout(STORAGE_SECONDS):
            repository = (await open_for_viewer(on)).repository
            branches, tags = await ref_names(repository)
            latest_ref = "main" if "main" in branches else (branches[0] if branches else None)
            latest = None
            if latest_ref is not None:
                latest = await snapshot(repository, await repository.lookup_branch_async(latest_ref))
    except Exception as exc:  # whatever storage does, the page stands
        log.warning("web.overview.storage_failed", org=on.org, repo=on.repo, error=repr(exc))
        return None, "Its contents could not be read from storage just now; the catalog facts below stand."
    return Contents(len(branches), len(tags), latest, latest_ref), None


def _rights(on: OnRepo) -> list[str]:
    return [text for action, text in _CAN if on.may(action)]


@router.get("/app/{org}/{repo}", response_class=HTMLResponse)
async def repo_overview(request: Request, org: OrgName, repo: RepoName, viewer: SignedIn) -> HTMLResponse:
    """The repo's catalog facts, who has access, and a glance at its contents."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_READ)
    ctx = viewer.ctx
    record = await cached_repo_record(ctx.catalog, ctx.reader, on.scope, repo)
    facts = await record_to_wire(ctx.codec, on.scope, record)
    members: list[OrgMember] | None = None
    async with ctx.reader.connect() as conn:
        if viewer.may(org, Action.VIEW_ORG):
            members = await list_members(conn, viewer.in_org(org, Action.VIEW_ORG).member)
        grants = await list_grants(conn, record.repo) if on.may(RepoActions.CAN_MANAGE_USERS) else None
    emails = {str(m.principal_id): m.email for m in members or ()}
    setter = facts.status.initiated_by.get("principal_id")
    contents, note = await _contents(on, facts.kind)
    return render(
        request,
        viewer,
        "app/repo_overview.html",
        org=org,
        repo=repo,
        section="catalog",
        may_change=_may_change(on),
        facts=facts,
        members=members,
        roles=[(label, [m for m in members or () if m.role.value == role]) for role, label in _ROLES],
        grants=grants,
        rights=_rights(on),
        created_by=emails.get(str(facts.created_by)) if facts.created_by else None,
        status_by=emails.get(str(setter)) if setter else None,
        contents=contents,
        note=note,
        service_url=public_base(request, ctx.settings),
        max_people=MAX_PEOPLE,
    )


@router.get("/app/{org}/{repo}/tree", response_class=HTMLResponse)
async def repo_tree(
    request: Request,
    org: OrgName,
    repo: RepoName,
    viewer: SignedIn,
    ref: Ref = None,
    snapshot_id: Annotated[str | None, Query(alias="snapshot", max_length=MAX_REF_LENGTH)] = None,
    path: Annotated[str | None, Query(max_length=MAX_PATH_QUERY)] = None,
) -> HTMLResponse:
    """The groups and arrays at a branch, tag or snapshot (``snapshot``, from the picker's text field,
    wins over ``ref``), with the details of the node at ``path``."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_READ)
    repository = (await open_for_viewer(on)).repository
    resolved = await resolve_ref(repository, (snapshot_id or "").strip() or ref)
    tree = await read_tree(await session_at(repository, resolved))
    selected = tree_node(tree, path)
    branches, tags = await ref_names(repository)
    return render(
        request,
        viewer,
        "app/repo_tree.html",
        org=org,
        repo=repo,
        section="catalog",
        may_change=_may_change(on),
        ref=resolved,
        branches=branches,
        tags=tags,
        tree=tree,
        selected=selected,
        max_nodes=MAX_NODES,
        open_all=tree.shown <= 200,
    )


@router.get("/app/{org}/{repo}/refs", response_class=HTMLResponse)
async def repo_refs(request: Request, org: OrgName, repo: RepoName, viewer: SignedIn) -> HTMLResponse:
    """Branches and tags, each with the commit it points at."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_READ)
    refs = await list_refs((await open_for_viewer(on)).repository)
    return render(
        request,
        viewer,
        "app/repo_refs.html",
        org=org,
        repo=repo,
        section="catalog",
        may_change=_may_change(on),
        refs=refs,
    )


@router.get("/app/{org}/{repo}/history", response_class=HTMLResponse)
async def repo_history(
    request: Request,
    org: OrgName,
    repo: RepoName,
    viewer: SignedIn,
    ref: Ref = None,
    after: Annotated[str | None, Query(max_length=MAX_REF_LENGTH)] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
) -> HTMLResponse:
    """The commits of a ref, newest first, a page at a time (``after``: the last snapshot id shown)."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_READ)
    repository = (await open_for_viewer(on)).repository
    resolved = await resolve_ref(repository, ref)
    page = await history(repository, resolved.snapshot_id, after, size)
    branches, tags = await ref_names(repository)
    return render(
        request,
        viewer,
        "app/repo_history.html",
        org=org,
        repo=repo,
        section="catalog",
        may_change=_may_change(on),
        ref=resolved,
        branches=branches,
        tags=tags,
        page=page,
        size=size,
        paged=bool((after or "").strip()),
        default_size=PAGE_SIZE,
    )
