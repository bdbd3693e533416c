"""The access policy: the only place that decides who may do what.

* Org roles give org-wide rights: ``admin`` everything; ``repo_writer`` creates, reads and writes every
  repo; ``repo_reader`` reads every repo; ``member`` only what is granted to them.
* Repo grants give ``RepoActions`` on one repo to any principal, member of the org or not.
* Compute services serve every repo of an org: only its admins enable, change or disable them (a public one
  opens every repo to anyone); every member sees them, their status and their logs.
* Only users found orgs, and only where the operator lets them.
* Outside an org (no membership, no grant there), a principal sees nothing of it: 404, as if it did not
  exist. Inside, without the right: 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from arraylake.server.errors import Forbidden, NotFound
from arraylake.server.identity.principals import Membership, OrgScope, Principal, PrincipalKind
from arraylake.types import OrgActions, OrgRole, RepoActions


class Action(StrEnum):
    """Org-level actions of the service's endpoints."""

    VIEW_ORG = "view the org"
    LIST_REPOS = "list all repos"
    CREATE_REPO = "create repos"
    READ_BUCKETS = "read bucket configs"
    MANAGE_BUCKETS = "manage bucket configs"
    MANAGE_MEMBERS = "manage members and API clients"
    VIEW_COMPUTE = "see compute services, their status and logs"
    MANAGE_COMPUTE = "enable, change or disable compute services"
    VIEW_AUDIT = "read the org's audit log"
    MANAGE_MAINTENANCE = "set the org's default maintenance policy"


_MEMBER = frozenset({Action.VIEW_ORG, Action.VIEW_COMPUTE})
_READER = _MEMBER | {Action.LIST_REPOS, Action.READ_BUCKETS}
ROLE_ACTIONS: dict[OrgRole, frozenset[Action]] = {
    OrgRole.ADMIN: frozenset(Action),
    OrgRole.REPO_WRITER: _READER | {Action.CREATE_REPO},
    OrgRole.REPO_READER: _READER,
    OrgRole.MEMBER: _MEMBER,
}

_READ = {RepoActions.CAN_READ, RepoActions.CAN_READ_WITH_FLUX}
ROLE_REPO_ACTIONS: dict[OrgRole, frozenset[RepoActions]] = {
    OrgRole.ADMIN: frozenset(RepoActions),
    OrgRole.REPO_WRITER: frozenset(_READ | {RepoActions.CAN_WRITE, RepoActions.CAN_SYNC}),
    OrgRole.REPO_READER: frozenset(_READ),
    OrgRole.MEMBER: frozenset(),
}

# A granted action brings the ones it cannot do without.
IMPLIED: dict[RepoActions, frozenset[RepoActions]] = {
    RepoActions.CAN_WRITE: frozenset({RepoActions.CAN_READ}),
    RepoActions.CAN_MANAGE_USERS: frozenset({RepoActions.CAN_READ}),
    RepoActions.CAN_SYNC: frozenset({RepoActions.CAN_READ}),
    RepoActions.CAN_READ_WITH_FLUX: frozenset({RepoActions.CAN_READ}),
}

_DOING = {
    RepoActions.CAN_READ: "read",
    RepoActions.CAN_WRITE: "write to",
    RepoActions.CAN_MANAGE_USERS: "manage access to or delete",
    RepoActions.CAN_READ_WITH_FLUX: "serve",
    RepoActions.CAN_SYNC: "sync",
}

ORG_ACTION_ROLES: dict[OrgActions, frozenset[OrgRole]] = {
    OrgActions.CAN_MANAGE_USERS: frozenset({OrgRole.ADMIN}),
    OrgActions.CAN_WRITE_REPOS: frozenset({OrgRole.ADMIN, OrgRole.REPO_WRITER}),
    OrgActions.CAN_READ_REPOS: frozenset({OrgRole.ADMIN, OrgRole.REPO_WRITER, OrgRole.REPO_READER}),
    OrgActions.CAN_READ_REPOS_WITH_FLUX: frozenset({OrgRole.ADMIN, OrgRole.REPO_WRITER, OrgRole.REPO_READER}),
}


def org_not_found(org: str) -> NotFound:
    return NotFound(f"org {org} not found")


Access = Literal["read", "write"]
"""What a caller asks storage credentials for."""


def repo_not_found(org: str, repo: str) -> NotFound:
    return NotFound(f"repo {org}/{repo} not found")


def membership(principal: Principal, org: str) -> Membership:
    """The principal's membership in ``org``; 404 when it has none (or the org does not exist)."""
    found = principal.memberships.get(org)
    if found is None:
        raise org_not_found(org)
    return found


def authorize(principal: Principal, org: str, action: Action) -> Membership:
    """The principal's membership in ``org`` if it may perform ``action`` there; else 404 or 403."""
    found = membership(principal, org)
    if action not in ROLE_ACTIONS[found.role]:
        raise Forbidden(f"your role in org {org} ({found.role.value}) does not allow you to {action.value}")
    return found


def allows(principal: Principal, org: str, action: Action) -> bool:
    found = principal.memberships.get(org)
    return found is not None and action in ROLE_ACTIONS[found.role]


def repo_actions(principal: Principal, org: str, repo: str) -> frozenset[RepoActions]:
    """Everything the principal may do on ``org/repo``, from its org role and its grants."""
    actions: set[RepoActions] = set()
    found = principal.memberships.get(org)
    if found is not None:
        actions |= ROLE_REPO_ACTIONS[found.role]
    grant = principal.grants.get((org, repo))
    if grant is not None:
        for action in grant.actions:
            actions |= {action} | IMPLIED.get(action, frozenset())
    return frozenset(actions)


def _org_scope(principal: Principal, org: str) -> OrgScope | None:
    found = principal.memberships.get(org)
    if found is not None:
        return found
    for (grant_org, _repo), grant in principal.grants.items():
        if grant_org == org:
            return OrgScope(grant.org_id, org)
    return None


@dataclass(frozen=True, slots=True)
class RepoPermit:
    """What :func:`authorize_repo` found: the repo's org and everything the principal may do there."""

    scope: OrgScope
    actions: frozenset[RepoActions]


def authorize_repo(principal: Principal, org: str, repo: str, action: RepoActions) -> RepoPermit:
    """The org of ``org/repo`` and the principal's actions there, if they include ``action``; else 404
    or 403.

    404 also for repos of its org that a principal without a role there cannot read: it may not learn
    which repos exist. The repo itself may still not exist; the caller answers 404 for that.
    """
    scope = _org_scope(principal, org)
    if scope is None:
        raise org_not_found(org)
    granted = repo_actions(principal, org, repo)
    if action in granted:
        return RepoPermit(scope, granted)
    if not granted and org not in principal.memberships:
        raise repo_not_found(org, repo)
    raise Forbidden(f"you may not {_DOING[action]} repo {org}/{repo}")


def visible_repos(principal: Principal, org: str) -> tuple[OrgScope, set[str] | None]:
    """The org, and the names of the repos the principal may see there (``None``: all of them)."""
    scope = _org_scope(principal, org)
    if scope is None:
        raise org_not_found(org)
    if allows(principal, org, Action.LIST_REPOS):
        return scope, None
    return scope, {repo for (grant_org, repo) in principal.grants if grant_org == org}


def has_org_action(principal: Principal, org: str, action: OrgActions) -> bool:
    found = principal.memberships.get(org)
    return found is not None and found.role in ORG_ACTION_ROLES[action]


def authorize_org_creation(principal: Principal, *, open_to_users: bool) -> None:
    """Let the principal found an org, or 403: users may, where the operator allows it (``open_to_users``).

    API clients never may: each belongs to the one org that made it.
    """
    if principal.kind != PrincipalKind.USER:
        raise Forbidden("API clients belong to one org and cannot create orgs; sign in as a user")
    if not open_to_users:
        raise Forbidden("this service does not let users create orgs; ask its operator")


def authorize_permission_check(principal: Principal, org: str, about: str) -> None:
    """Let the principal ask what principal ``about`` may do in ``org``, or 404 or 403.

    Whoever may manage the org's members may ask about anyone; others only about themselves, in an org
    where they have a role or a grant.
    """
    if about != principal.id:
        authorize(principal, org, Action.MANAGE_MEMBERS)
    elif _org_scope(principal, org) is None:
        raise org_not_found(org)


def may_see_bucket_secrets(principal: Principal, org: str) -> bool:
    return allows(principal, org, Action.MANAGE_BUCKETS)


def authorize_operator(principal: Principal, operators: list[str]) -> None:
    """Let the principal act as an operator of the service (read and verify the whole audit log), or 403.

    Operators are the users whose email the service's ``operators`` setting lists; API clients never are.
    """
    if principal.kind != PrincipalKind.USER or principal.email.lower() not in operators:
        raise Forbidden(
            "only the service's operators (the users its ARRAYLAKE_SERVER_OPERATORS setting lists) may do "
            "this; an org's admins read their org's log at /orgs/{org}/audit/entries"
        )
