"""The typed dependencies every router declares: who calls, in which org or on which repo, allowed to do what.

An endpoint states its authorization in its signature and receives everything it needs in one value::

    @router.post("/orgs/{org}/buckets")
    async def create_bucket(new: NewBucket, call: MemberMay(Action.MANAGE_BUCKETS)) -> BucketResponse:
        async with call.ctx.engine.begin() as conn:
            ...

The decisions themselves stay in :mod:`arraylake.server.policy`; this module only asks it, once per request.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from fastapi import Depends

from arraylake.server.context import AppContext, app_context, current_principal
from arraylake.server.identity.principals import Membership, OrgScope, Principal
from arraylake.server.paths import org_name, repo_name
from arraylake.server.policy import Action, authorize, authorize_repo, repo_actions, visible_repos
from arraylake.types import RepoActions

__all__ = [
    "Ctx",
    "CurrentPrincipal",
    "InOrg",
    "MemberMay",
    "OnRepo",
    "OrgListing",
    "OrgName",
    "RepoName",
    "RepoScope",
    "VisibleRepos",
]

Ctx = Annotated[AppContext, Depends(app_context)]
"""The process-wide context: settings, engines, caches, the credential vendor."""

CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
"""The authenticated caller (401 without a valid token)."""

OrgName = Annotated[str, Depends(org_name)]
"""The ``{org}`` path parameter, validated (422 for a malformed name)."""

RepoName = Annotated[str, Depends(repo_name)]
"""The ``{repo}`` path parameter, validated."""


@dataclass(frozen=True, slots=True)
class InOrg:
    """A call authorized for one action in one org."""

    ctx: AppContext
    principal: Principal
    member: Membership

    @property
    def org(self) -> str:
        return self.member.org_name


@dataclass(frozen=True, slots=True)
class OnRepo:
    """A call authorized for one action on one repo; ``actions`` is everything the caller may do there."""

    ctx: AppContext
    principal: Principal
    scope: OrgScope
    repo: str
    actions: frozenset[RepoActions]

    @property
    def org(self) -> str:
        return self.scope.org_name

    def may(self, action: RepoActions) -> bool:
        return action in self.actions


@dataclass(frozen=True, slots=True)
class VisibleRepos:
    """The org a listing is about and which of its repos the caller may see (``names`` ``None``: all)."""

    ctx: AppContext
    principal: Principal
    scope: OrgScope
    names: set[str] | None


@cache
def MemberMay(action: Action) -> Any:
    """The type of a parameter that is only given to a member of ``{org}`` whose role allows ``action``.

    404 if the caller is not in the org (it may not learn that the org exists), 403 if its role is too weak.
    """

    async def in_org(org: OrgName, principal: CurrentPrincipal, ctx: Ctx) -> InOrg:
        return InOrg(ctx, principal, authorize(principal, org, action))

    return Annotated[InOrg, Depends(in_org)]


@cache
def RepoScope(action: RepoActions) -> Any:
    """The type of a parameter that is only given to a caller who may perform ``action`` on ``{org}/{repo}``.

    404 when the caller may not learn that the repo exists, 403 when it may but lacks the right. Whether
    the repo exists is the endpoint's question.
    """

    async def on_repo(org: OrgName, repo: RepoName, principal: CurrentPrincipal, ctx: Ctx) -> OnRepo:
        scope = authorize_repo(principal, org, repo, action)
        return OnRepo(ctx, principal, scope, repo, repo_actions(principal, org, repo))

    return Annotated[OnRepo, Depends(on_repo)]


async def _visible_repos(org: OrgName, principal: CurrentPrincipal, ctx: Ctx) -> VisibleRepos:
    scope, names = visible_repos(principal, org)
    return VisibleRepos(ctx, principal, scope, names)


OrgListing = Annotated[VisibleRepos, Depends(_visible_repos)]
"""Given to anyone who may see some repos of ``{org}`` (a role there, or a grant on one of them)."""
