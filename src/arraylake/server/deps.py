"""The typed dependencies every router declares: who calls, in which org or on which repo, allowed to do what.

An endpoint states its authorization in its signature and receives everything it needs in one value::

    @router.post("/orgs/{org}/buckets")
    async def create_bucket(new: NewBucket, call: MemberMay(Action.MANAGE_BUCKETS)) -> BucketResponse:
        async with call.ctx.engine.begin() as conn:
            ...

The decisions themselves stay in :mod:`arraylake.server.policy`; this module only asks it, once per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Query

from arraylake.server.context import AppContext, app_context, current_principal
from arraylake.server.errors import Forbidden, NotFound
from arraylake.server.identity.principals import Membership, OrgScope, Principal
from arraylake.server.paths import org_name, repo_name
from arraylake.server.policy import (
    Access,
    Action,
    allows,
    authorize,
    authorize_org_creation,
    authorize_permission_check,
    authorize_repo,
    visible_repos,
)
from arraylake.types import RepoActions

__all__ = [
    "AskedAccess",
    "Authenticated",
    "BucketAccess",
    "BucketManager",
    "BucketReader",
    "Caller",
    "ComputeManager",
    "ComputeViewer",
    "Ctx",
    "CurrentPrincipal",
    "InOrg",
    "MemberManager",
    "MemberMay",
    "OnRepo",
    "OrgBucketAccess",
    "OrgCreator",
    "OrgListing",
    "OrgName",
    "OrgViewer",
    "PermissionAsker",
    "PermissionQuestion",
    "RepoAccess",
    "RepoAccessOrReservation",
    "RepoCreator",
    "RepoLister",
    "RepoManager",
    "RepoName",
    "RepoReader",
    "RepoScope",
    "RepoWriter",
    "StorageAccess",
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
class Caller:
    """An authenticated call about no org in particular."""

    ctx: AppContext
    principal: Principal


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
def _member_may(action: Action) -> Callable[..., Awaitable[InOrg]]:
    async def in_org(org: OrgName, principal: CurrentPrincipal, ctx: Ctx) -> InOrg:
        return InOrg(ctx, principal, authorize(principal, org, action))

    return in_org


@cache
def MemberMay(action: Action) -> Any:
    """The type of a parameter that is only given to a member of ``{org}`` whose role allows ``action``.

    404 if the caller is not in the org (it may not learn that the org exists), 403 if its role is too weak.
    """
    return Annotated[InOrg, Depends(_member_may(action))]


# The frequent ones as aliases that type checkers follow (they cannot follow a call in an annotation).
OrgViewer = Annotated[InOrg, Depends(_member_may(Action.VIEW_ORG))]
"""Given to any member of ``{org}``."""

MemberManager = Annotated[InOrg, Depends(_member_may(Action.MANAGE_MEMBERS))]
"""Given to whoever may manage the members and API clients of ``{org}`` (its admins)."""

ComputeViewer = Annotated[InOrg, Depends(_member_may(Action.VIEW_COMPUTE))]
"""Given to any member of ``{org}``: its compute services, their status and logs."""

ComputeManager = Annotated[InOrg, Depends(_member_may(Action.MANAGE_COMPUTE))]
"""Given to whoever may enable, change and disable the compute services of ``{org}`` (its admins)."""


@cache
def _on_repo(action: RepoActions) -> Callable[..., Awaitable[OnRepo]]:
    async def on_repo(org: OrgName, repo: RepoName, principal: CurrentPrincipal, ctx: Ctx) -> OnRepo:
        permit = authorize_repo(principal, org, repo, action)  # one policy call: the check and the actions
        return OnRepo(ctx, principal, permit.scope, repo, permit.actions)

    return on_repo


@cache
def RepoScope(action: RepoActions) -> Any:
    """The type of a parameter that is only given to a caller who may perform ``action`` on ``{org}/{repo}``.

    404 when the caller may not learn that the repo exists, 403 when it may but lacks the right. Whether
    the repo exists is the endpoint's question.
    """
    return Annotated[OnRepo, Depends(_on_repo(action))]


async def _visible_repos(org: OrgName, principal: CurrentPrincipal, ctx: Ctx) -> VisibleRepos:
    scope, names = visible_repos(principal, org)
    return VisibleRepos(ctx, principal, scope, names)


OrgListing = Annotated[VisibleRepos, Depends(_visible_repos)]
"""Given to anyone who may see some repos of ``{org}`` (a role there, or a grant on one of them)."""


async def _caller(principal: CurrentPrincipal, ctx: Ctx) -> Caller:
    return Caller(ctx, principal)


Authenticated = Annotated[Caller, Depends(_caller)]
"""Given to any authenticated caller, with the context."""


async def _org_creator(principal: CurrentPrincipal, ctx: Ctx) -> Caller:
    authorize_org_creation(principal, open_to_users=ctx.settings.allow_org_creation)
    return Caller(ctx, principal)


OrgCreator = Annotated[Caller, Depends(_org_creator)]
"""Given to a caller who may found an org (403 otherwise)."""


@dataclass(frozen=True, slots=True)
class PermissionQuestion:
    """A caller allowed to ask, in org ``org``, what principal ``about`` may do."""

    ctx: AppContext
    principal: Principal
    org: str
    about: str


async def _permission_question(
    org: OrgName,
    principal: CurrentPrincipal,
    ctx: Ctx,
    principal_id: str = Query(description="The principal to ask about"),
) -> PermissionQuestion:
    authorize_permission_check(principal, org, principal_id)
    return PermissionQuestion(ctx, principal, org, principal_id)


PermissionAsker = Annotated[PermissionQuestion, Depends(_permission_question)]
"""Given to whoever may ask what ``principal_id`` may do in ``{org}``: org admins about anyone, others
about themselves."""


# ------------------------------------------------ repos and buckets: the aliases their routers declare


RepoReader = Annotated[OnRepo, Depends(_on_repo(RepoActions.CAN_READ))]
"""Given to whoever may read ``{org}/{repo}``."""

RepoWriter = Annotated[OnRepo, Depends(_on_repo(RepoActions.CAN_WRITE))]
"""Given to whoever may write ``{org}/{repo}``."""

RepoManager = Annotated[OnRepo, Depends(_on_repo(RepoActions.CAN_MANAGE_USERS))]
"""Given to whoever may manage who reaches ``{org}/{repo}``, and so delete or restore it."""

RepoCreator = Annotated[InOrg, Depends(_member_may(Action.CREATE_REPO))]
"""Given to a member of ``{org}`` who may create repos."""

RepoLister = Annotated[InOrg, Depends(_member_may(Action.LIST_REPOS))]
"""Given to a member of ``{org}`` who may list all its repos."""

BucketReader = Annotated[InOrg, Depends(_member_may(Action.READ_BUCKETS))]
"""Given to a member of ``{org}`` who may read its bucket configs."""

BucketManager = Annotated[InOrg, Depends(_member_may(Action.MANAGE_BUCKETS))]
"""Given to a member of ``{org}`` who may manage its bucket configs (and its virtual chunk policies)."""


# --------------------------------------------------------- storage access: read, write or the most allowed

ACCESS_QUERY: Any = Query(default=None, description="read or write; default: the most allowed")


@dataclass(frozen=True, slots=True)
class StorageAccess:
    """A call for storage credentials on one repo, authorized for the access it asked for; ``write``: whether
    to hand out write access (as asked, or when not asked, whether the caller may write)."""

    on: OnRepo
    write: bool

    @property
    def may_write(self) -> bool:
        return self.on.may(RepoActions.CAN_WRITE)


async def _storage_access(
    org: OrgName, repo: RepoName, principal: CurrentPrincipal, ctx: Ctx, access: Access | None = ACCESS_QUERY
) -> StorageAccess:
    on = await _on_repo(RepoActions.CAN_WRITE if access == "write" else RepoActions.CAN_READ)(
        org, repo, principal, ctx
    )
    return StorageAccess(on, access == "write" or (access is None and on.may(RepoActions.CAN_WRITE)))


RepoAccess = Annotated[StorageAccess, Depends(_storage_access)]
"""Given to a caller who may read ``{org}/{repo}`` (``?access=write``: write it); 404 or 403 otherwise."""


@dataclass(frozen=True, slots=True)
class AskedAccess:
    """A call for storage credentials on one repo that the policy may have refused: the endpoint has another
    way in (the creator of a repo not yet activated), and raises ``refusal`` when that fails too."""

    ctx: AppContext
    principal: Principal
    org: str
    repo: str
    granted: StorageAccess | None
    refusal: NotFound | Forbidden | None


async def _asked_access(
    org: OrgName, repo: RepoName, principal: CurrentPrincipal, ctx: Ctx, access: Access | None = ACCESS_QUERY
) -> AskedAccess:
    try:
        granted = await _storage_access(org, repo, principal, ctx, access)
    except (NotFound, Forbidden) as refusal:
        return AskedAccess(ctx, principal, org, repo, None, refusal)
    return AskedAccess(ctx, principal, org, repo, granted, None)


RepoAccessOrReservation = Annotated[AskedAccess, Depends(_asked_access)]
"""Like :data:`RepoAccess`, but a refusal is handed to the endpoint instead of answered."""


@dataclass(frozen=True, slots=True)
class BucketAccess:
    """A call for credentials of a whole bucket config: read for those who may read the org's bucket
    configs, write (``?access=write``) for those who may create repos."""

    call: InOrg
    write: bool
    may_write: bool


async def _bucket_access(
    org: OrgName, principal: CurrentPrincipal, ctx: Ctx, access: Access = Query(default="read")
) -> BucketAccess:
    member = authorize(principal, org, Action.CREATE_REPO if access == "write" else Action.READ_BUCKETS)
    may_write = allows(principal, org, Action.CREATE_REPO)
    return BucketAccess(InOrg(ctx, principal, member), access == "write", may_write)


OrgBucketAccess = Annotated[BucketAccess, Depends(_bucket_access)]
"""Given to a member of ``{org}`` whose role allows the access it asks for; 404 or 403 otherwise."""
