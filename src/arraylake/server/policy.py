"""The access policy: the only place that decides who may do what.

Outside an org, a principal sees nothing of it: every request about the org answers 404, as if it did not
exist. Inside, a principal without the right gets 403.
"""

from __future__ import annotations

from enum import StrEnum

from arraylake.server.errors import Forbidden, NotFound
from arraylake.server.identity.principals import Membership, Principal, Role


class Action(StrEnum):
    VIEW_ORG = "view the org"
    LIST_REPOS = "list repos"
    READ_REPO = "read repos"
    WRITE_REPO = "write to repos"
    CREATE_REPO = "create repos"
    MANAGE_REPO = "change repo settings"
    DELETE_REPO = "delete repos"
    READ_BUCKETS = "read bucket configs"
    MANAGE_BUCKETS = "manage bucket configs"
    MANAGE_MEMBERS = "manage members"


_READER = frozenset({Action.VIEW_ORG, Action.LIST_REPOS, Action.READ_REPO, Action.READ_BUCKETS})
_WRITER = _READER | {Action.WRITE_REPO, Action.CREATE_REPO}
ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.REPO_WRITER: _WRITER,
    Role.REPO_READER: _READER,
    Role.MEMBER: frozenset({Action.VIEW_ORG}),
}


def org_not_found(org: str) -> NotFound:
    return NotFound(f"org {org} not found")


def membership(principal: Principal, org: str) -> Membership:
    """The principal's membership in ``org``; 404 when it has none (or the org does not exist)."""
    found = principal.memberships.get(org)
    if found is None:
        raise org_not_found(org)
    return found


def allows(principal: Principal, org: str, action: Action) -> bool:
    found = principal.memberships.get(org)
    return found is not None and action in ROLE_ACTIONS[found.role]


def authorize(principal: Principal, org: str, action: Action) -> Membership:
    """Return the principal's membership in ``org`` if it may perform ``action`` there; else 404 or 403."""
    found = membership(principal, org)
    if action not in ROLE_ACTIONS[found.role]:
        raise Forbidden(f"your role in org {org} ({found.role.value}) does not allow you to {action.value}")
    return found
