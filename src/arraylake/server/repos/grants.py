"""Per-repo grants of ``RepoActions`` to principals (members of the org or not)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import principals, repo_grants
from arraylake.server.errors import NotFound
from arraylake.server.identity.access import resolve_principal
from arraylake.server.identity.principals import OrgScope
from arraylake.types import RepoActions, RepoGrant, utcnow


async def list_grants(conn: AsyncConnection, repo: Row) -> list[RepoGrant]:
    rows = await conn.execute(
        select(repo_grants.c.action, principals.c.id, principals.c.kind, principals.c.email)
        .join(principals, principals.c.id == repo_grants.c.principal_id)
        .where(repo_grants.c.repo_id == repo.id, principals.c.disabled_at.is_(None))
        .order_by(principals.c.email, repo_grants.c.action)
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


async def grant(
    conn: AsyncConnection, org: OrgScope, repo: Row, ref: str, actions: list[RepoActions], by: str
) -> list[RepoGrant]:
    """Add ``actions`` to what the principal may do on the repo (already granted ones are kept)."""
    principal = await resolve_principal(conn, org, ref)
    held = set(
        (
            await conn.execute(
                select(repo_grants.c.action).where(
                    repo_grants.c.repo_id == repo.id, repo_grants.c.principal_id == principal.id
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
                    "principal_id": principal.id,
                    "action": a.value,
                    "created": now,
                    "created_by": by,
                }
                for a in new
            ],
        )
    return await list_grants(conn, repo)


async def revoke(
    conn: AsyncConnection, org: OrgScope, repo: Row, ref: str, actions: list[RepoActions] | None
) -> list[RepoGrant]:
    """Remove ``actions`` (all when ``None``) from what the principal was granted on the repo."""
    principal = await resolve_principal(conn, org, ref)
    query = delete(repo_grants).where(
        repo_grants.c.repo_id == repo.id, repo_grants.c.principal_id == principal.id
    )
    if actions:
        query = query.where(repo_grants.c.action.in_([a.value for a in actions]))
    result = await conn.execute(query)
    if result.rowcount == 0:
        raise NotFound(f"{principal.email} holds no such grant on repo {org.org_name}/{repo.name}")
    return await list_grants(conn, repo)
