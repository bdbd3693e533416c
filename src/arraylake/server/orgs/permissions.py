"""Answering whether a principal may perform an org or repo action (for services that act on its behalf)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.exceptions import InvalidNameError
from arraylake.names import parse_repo_name
from arraylake.server.errors import InvalidInput, NotFound
from arraylake.server.identity.principals import Principal
from arraylake.server.identity.service import principal_by_id
from arraylake.server.policy import has_org_action, repo_actions
from arraylake.server.repos.records import repo_row
from arraylake.types import OrgActions, PermissionCheckResponse, RepoActions


async def check_permission(
    conn: AsyncConnection, asker: Principal, org: str, principal_id: str, resource: str, action: str
) -> PermissionCheckResponse:
    """Whether ``principal_id`` may perform ``action`` on ``resource`` (the org, or a repo of it).

    The asker is already allowed to ask; a repo that does not exist allows nothing.
    """
    # CAN_MANAGE_USERS is both an org and a repo action: the resource says which one is meant
    is_org_action = action in OrgActions.__members__.values() and (
        action not in RepoActions.__members__.values() or resource in (org, "")
    )
    if is_org_action:
        if resource not in (org, ""):
            raise InvalidInput(f"org actions apply to the org: resource must be {org!r}")
        target = await principal_by_id(conn, principal_id)
        return PermissionCheckResponse(
            has_permission=target is not None and has_org_action(target, org, OrgActions(action))
        )
    if action not in RepoActions.__members__.values():
        known = ", ".join([*OrgActions.__members__.values(), *RepoActions.__members__.values()])
        raise InvalidInput(f"unknown action {action!r}; use one of {known}")
    try:
        repo_org, repo = parse_repo_name(resource) if "/" in resource else (org, resource)
    except InvalidNameError as exc:
        raise InvalidInput(f"resource: {exc}") from exc
    if repo_org != org:
        raise InvalidInput(f"resource {resource!r} is not in org {org}")
    target = await principal_by_id(conn, principal_id)
    if target is None:
        return PermissionCheckResponse(has_permission=False)
    scope = asker.memberships.get(org) or target.memberships.get(org)
    if scope is not None:
        try:
            await repo_row(conn, scope, repo)
        except NotFound:
            return PermissionCheckResponse(has_permission=False)
    return PermissionCheckResponse(has_permission=RepoActions(action) in repo_actions(target, org, repo))
