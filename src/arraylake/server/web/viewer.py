"""Who looks at a page of the web app: the signed-in browser's principal, and what the policy lets it do.

Pages declare :data:`SignedIn` (reading) or :data:`FormPost` (changing something: the form's CSRF token is
checked first) and ask the viewer for the same authorized values the API's dependencies give
(:class:`~arraylake.server.deps.InOrg`, :class:`~arraylake.server.deps.OnRepo`,
:class:`~arraylake.server.deps.VisibleRepos`), so both go through :mod:`arraylake.server.policy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from arraylake.server.context import AppContext, app_context
from arraylake.server.deps import InOrg, OnRepo, VisibleRepos
from arraylake.server.errors import Forbidden
from arraylake.server.identity.principals import Principal
from arraylake.server.identity.service import principal_by_id
from arraylake.server.policy import Action, allows, authorize, authorize_repo, repo_actions, visible_repos
from arraylake.server.web import session
from arraylake.types import RepoActions

CSRF_HEADER = "x-csrf-token"


class SignInNeeded(Exception):
    """The browser is not signed in (or its sign-in ended): send it to the sign-in page, then back."""

    def __init__(self, back_to: str):
        super().__init__(back_to)
        self.back_to = back_to


@dataclass(frozen=True, slots=True)
class Viewer:
    """A signed-in browser: its principal (with memberships and grants) and its session's CSRF token."""

    ctx: AppContext
    principal: Principal
    csrf: str
    session_id: str

    @property
    def email(self) -> str:
        return self.principal.email

    def orgs(self) -> list[str]:
        """The orgs the viewer has a role in or a grant in, by name."""
        names = set(self.principal.memberships) | {org for org, _repo in self.principal.grants}
        return sorted(names, key=str.lower)

    def role(self, org: str) -> str | None:
        found = self.principal.memberships.get(org)
        return found.role.value if found is not None else None

    def may(self, org: str, action: Action) -> bool:
        """Whether the viewer's role in ``org`` allows ``action`` (to show or hide a control)."""
        return allows(self.principal, org, action)

    def in_org(self, org: str, action: Action) -> InOrg:
        """The viewer in ``org``, allowed ``action``; else the policy's 404 or 403."""
        return InOrg(self.ctx, self.principal, authorize(self.principal, org, action))

    def on_repo(self, org: str, repo: str, action: RepoActions = RepoActions.CAN_READ) -> OnRepo:
        """The viewer on ``org/repo``, allowed ``action``; else the policy's 404 or 403."""
        permit = authorize_repo(self.principal, org, repo, action)
        return OnRepo(self.ctx, self.principal, permit.scope, repo, permit.actions)

    def repo_actions(self, org: str, repo: str) -> frozenset[RepoActions]:
        return repo_actions(self.principal, org, repo)

    def visible(self, org: str) -> VisibleRepos:
        """The repos of ``org`` the viewer may see (404 outside it)."""
        scope, names = visible_repos(self.principal, org)
        return VisibleRepos(self.ctx, self.principal, scope, names)


def _here(request: Request) -> str:
    query = request.url.query
    if request.method != "GET":  # after signing in, come back to the page, not to a form's target
        referer = request.headers.get("hx-current-url") or ""
        return session.safe_next(referer.split(request.url.netloc, 1)[-1] if referer else None, "/app")
    return request.url.path + (f"?{query}" if query else "")


async def current_viewer(request: Request, ctx: AppContext) -> Viewer | None:
    """The signed-in viewer of this request, or ``None``."""
    web = await session.current(request, ctx.signer, ctx.reader)
    if web is None:
        return None
    async with ctx.reader.connect() as conn:
        principal = await principal_by_id(conn, web.principal_id)
    if principal is None:  # disabled since signing in
        return None
    request.scope.setdefault("state", {})["principal_id"] = principal.id
    return Viewer(ctx, principal, web.csrf, web.session_id)


async def signed_in(request: Request, ctx: AppContext = Depends(app_context)) -> Viewer:
    viewer = await current_viewer(request, ctx)
    if viewer is None:
        raise SignInNeeded(_here(request))
    return viewer


async def form_post(request: Request, viewer: Viewer = Depends(signed_in)) -> Viewer:
    offered = request.headers.get(CSRF_HEADER)
    if offered is None:
        form = await request.form()
        value = form.get("csrf")
        offered = value if isinstance(value, str) else None
    if not session.WebSession(viewer.principal.id, viewer.csrf, viewer.session_id).csrf_ok(offered):
        raise Forbidden(
            "This form has expired or did not come from this site. Reload the page and try again."
        )
    return viewer


SignedIn = Annotated[Viewer, Depends(signed_in)]
"""Given to a page when the browser is signed in; otherwise the browser goes to sign in first."""

FormPost = Annotated[Viewer, Depends(form_post)]
"""Given to a form's handler when the browser is signed in and the form carries its CSRF token (403
otherwise): every page that changes something declares it."""
