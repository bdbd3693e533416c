"""Comparing two snapshots of a repo: changed arrays, groups and attributes, a heat map of changed chunks."""

from __future__ import annotations

from typing import Annotated

import icechunk
from fastapi import Query, Request
from fastapi.responses import HTMLResponse

from arraylake.server.browse.diff import MAX_SIDE, compare, parent_of
from arraylake.server.browse.opening import open_for_viewer, resolve_ref
from arraylake.server.deps import OrgName, RepoName
from arraylake.server.web.rendering import render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import SignedIn
from arraylake.types import RepoActions

router = pages_router()

MAX_REF_CHOICES = 200
CELL = 20
"""Pixels a side of a heat map's cell, until the map would be wider or taller than :data:`MAX_WIDTH`."""
MAX_WIDTH = 560


async def _ref_choices(repository: icechunk.Repository) -> list[str]:
    """Branch and tag names to suggest in the form (a few: typing a snapshot id works too)."""
    try:
        names = sorted(await repository.list_branches_async()) + sorted(await repository.list_tags_async())
    except icechunk.IcechunkError:
        return []
    return names[:MAX_REF_CHOICES]


def _scale(rows: int, cols: int) -> tuple[int, int]:
    """The drawn size (width, height) of a map of ``rows`` x ``cols`` cells."""
    cell = max(1.0, min(CELL, MAX_WIDTH / max(1, cols, rows)))
    return max(4, round(cols * cell)), max(4, round(rows * cell))


@router.get("/app/{org}/{repo}/diff", response_class=HTMLResponse)
async def repo_diff(
    request: Request,
    org: OrgName,
    repo: RepoName,
    viewer: SignedIn,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: Annotated[str | None, Query()] = None,
) -> HTMLResponse:
    """The changes between two refs (``to`` defaults to ``main``, ``from`` to the parent of ``to``)."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_READ)
    opened = await open_for_viewer(on)
    repository = opened.repository
    target = await resolve_ref(repository, to or None)
    given_from = (from_ or "").strip()
    base = await resolve_ref(repository, given_from) if given_from else await parent_of(repository, target)
    comparison = await compare(repository, base, target)
    return render(
        request,
        viewer,
        "app/repo_diff.html",
        org=org,
        repo=repo,
        section="catalog",
        may_change=on.may(RepoActions.CAN_WRITE),
        from_value=given_from,
        to_value=(to or "").strip() or target.name,
        defaulted_from=not given_from,
        comparison=comparison,
        choices=await _ref_choices(repository),
        max_side=MAX_SIDE,
        scale=_scale,
    )
