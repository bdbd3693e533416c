"""Per-repo grants of ``RepoActions`` to principals (members of the org or not)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.db.schema import LIFECYCLE_ACTIVE, principals, repo_grants, repos
from arraylake.server.errors import NotFound
from arraylake.server.identity.emails import login_key
from arraylake.server.identity.principals import OrgScope, Principal, PrincipalKind
from arraylake.server.identity.service import valid_email
from arraylake.server.orgs.members import principal_for_email, resolve_principal
from arraylake.types import RepoActions, RepoGrant, utcnow


async def list_grants(conn: AsyncConnection, repo: Row) -> list[RepoGrant]:
    rows = await conn.execute(
        select(
            repo_grants.c.action,
            principals.c.id,
            principals.c.kind,
            # users by their normalized address: the spelling stored with an account would tell a grant to
            # an existing account from one to an address that was only invited
            func.coalesce(principals.c.login_email, principals.c.email).label("email"),
        )
        .join(principals, principals.c.id == repo_grants.c.principal_id)
        .where(repo_grants.c.repo_id == repo.id, principals.c.disabled_at.is_(None))
        .order_by("email", repo_grants.c.action)
    )
    by_principal: dict[str, tuple[Row, list[RepoActions]]] = {}
    actions: dict[str, list[RepoActions]] = defaultdict(list)
    for row in rows:
        by_principal.setdefault(row.id, (row, actions[row.id]))
        actions[row.id].append(RepoActions(row.action))
    return [
        RepoGrant(principal_id=row.id, kind=row.kind, email=row.email, actions=acts)
        for row, acts in by_principal.values()
    ]


@dataclass(slots=True)
class OrgGrant:
    """What one principal was granted on one repo of an org, as the org's admins see it."""

    repo: str
    principal_id: str
    kind: str
    email: str
    granted: datetime
    """When the latest of these actions was granted."""
    granted_by: str | None
    """Who granted it (email), if known."""
    actions: list[RepoActions] = field(default_factory=list)


async def list_org_grants(conn: AsyncConnection, org: OrgScope) -> list[OrgGrant]:
    """Every grant on the org's active repos, by repo then principal."""
    granter = principals.alias("granter")
    rows = await conn.execute(
        select(
            repos.c.name.label("repo"),
            repo_grants.c.action,
            repo_grants.c.created,
            principals.c.id,
            principals.c.kind,
            func.coalesce(principals.c.login_email, principals.c.email).label("email"),
            granter.c.email.label("granted_by"),
        )
        .join(repos, repos.c.id == repo_grants.c.repo_id)
        .join(principals, principals.c.id == repo_grants.c.principal_id)
        .outerjoin(granter, granter.c.id == repo_grants.c.created_by)
        .where(
            repos.c.org_id == org.org_id,
            repos.c.lifecycle == LIFECYCLE_ACTIVE,
            principals.c.disabled_at.is_(None),
        )
        .order_by(repos.c.name, "email", repo_grants.c.action)
    )
    found: dict[tuple[str, str], OrgGrant] = {}
    for row in rows:
        item = found.setdefault(
            (row.repo, row.id),
            OrgGrant(row.repo, row.id, row.kind, row.email, row.created, row.granted_by),
        )
        item.actions.append(RepoActions(row.action))
        if row.created > item.granted:
            item.granted, item.granted_by = row.created, row.granted_by
    return list(found.values())


async def grant(
    conn: AsyncConnection, org: OrgScope, repo: Row, ref: str, actions: list[RepoActions], by: Principal
) -> list[RepoGrant]:
    """Add ``actions`` to what the principal may do on the repo (already granted ones are kept).

    An address without an account is invited (as by :func:`access.add_member`): the answer is the same
    whether or not it has one.
    """
    if "@" in ref:
        email = valid_email(ref)
        principal_id, _ = await principal_for_email(conn, org, email)
        grantee = login_key(email)
    else:
        found = await resolve_principal(conn, org, ref)
        principal_id, grantee = found.id, found.email
    held = set(
        (
            await conn.execute(
                select(repo_grants.c.action).where(
                    repo_grants.c.repo_id == repo.id, repo_grants.c.principal_id == principal_id
                )
            )
        ).scalars()
    )
    new = [a for a in dict.fromkeys(actions) if a.value not in held]
    if new:
        now = utcnow()
        await conn.execute(
            insert(repo_grants),
            [
                {
                    "repo_id": repo.id,
                    "principal_id": principal_id,
                    "action": a.value,
                    "created": now,
                    "created_by": by.id,
                }
                for a in new
            ],
        )
        await _audit(conn, "grant.add", org, repo, by, grantee, principal_id, [a.value for a in new])
    return await list_grants(conn, repo)


async def _audit(
    conn: AsyncConnection,
    action: str,
    org: OrgScope,
    repo: Row,
    actor: Principal,
    grantee: str,
    principal_id: str,
    actions: list[str],
) -> None:
    await record(
        conn,
        action,
        actor=actor,
        org_id=org.org_id,
        org=org.org_name,
        repo=repo.name,
        target=grantee,
        details={"principal_id": principal_id, "actions": actions},
    )


async def revoke(
    conn: AsyncConnection,
    org: OrgScope,
    repo: Row,
    ref: str,
    actions: list[RepoActions] | None,
    *,
    actor: Principal,
) -> list[RepoGrant]:
    """Remove ``actions`` (all when ``None``) from what the principal was granted on the repo; 404 alike
    for an unknown principal and one without such a grant."""
    refused = NotFound(f"{ref} holds no such grant on repo {org.org_name}/{repo.name}")
    try:
        principal = await resolve_principal(conn, org, ref)
    except NotFound:
        raise refused from None
    query = delete(repo_grants).where(
        repo_grants.c.repo_id == repo.id, repo_grants.c.principal_id == principal.id
    )
    if actions:
        query = query.where(repo_grants.c.action.in_([a.value for a in actions]))
    removed = sorted((await conn.execute(query.returning(repo_grants.c.action))).scalars())
    if not removed:
        raise refused
    grantee = principal.email if principal.kind != PrincipalKind.USER else login_key(principal.email)
    await _audit(conn, "grant.remove", org, repo, actor, grantee, principal.id, removed)
    return await list_grants(conn, repo)
