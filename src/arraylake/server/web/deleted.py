"""The org's deleted repos, with their purge dates; restore."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from arraylake.server.deps import OrgName, RepoName
from arraylake.server.policy import Action
from arraylake.server.repos import deletion
from arraylake.server.repos.ghosts import MAX_GHOSTS, list_ghosts
from arraylake.server.web.rendering import redirect_with_message, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import FormPost, SignedIn
from arraylake.types import RepoActions

router = pages_router()


@router.get("/app/{org}/-/deleted", response_class=HTMLResponse)
async def deleted_page(request: Request, org: OrgName, viewer: SignedIn) -> HTMLResponse:
    """Repos deleted with a grace period: who deleted them, when, and until when they can be restored."""
    # Ghosts are listed to those who may list every repo of the org, as the API's include_ghosts.
    call = viewer.in_org(org, Action.LIST_REPOS)
    async with viewer.ctx.reader.connect() as conn:
        ghosts = await list_ghosts(conn, viewer.ctx.codec, call.member)
    restorable = {g.name for g in ghosts if RepoActions.CAN_MANAGE_USERS in viewer.repo_actions(org, g.name)}
    return render(
        request,
        viewer,
        "app/deleted.html",
        org=org,
        section="deleted",
        title=f"Deleted repos of {org}",
        ghosts=ghosts,
        restorable=restorable,
        truncated=len(ghosts) >= MAX_GHOSTS,
    )


@router.post("/app/{org}/-/deleted/{repo}/restore", response_model=None)
async def restore_repo(org: OrgName, repo: RepoName, viewer: FormPost) -> RedirectResponse:
    """Bring a deleted repo back, with its data, before its grace period ends."""
    on = viewer.on_repo(org, repo, RepoActions.CAN_MANAGE_USERS)
    async with viewer.ctx.engine.begin() as conn:
        restored = await deletion.restore_repo(conn, viewer.ctx.codec, on.scope, on.principal, repo)
    return redirect_with_message(viewer, f"/app/{org}/{repo}", f"Restored repo {restored.full_name}.")
