"""An org's soft-deleted repos ("ghosts"): restorable until their data is removed."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.buckets.service import BucketCodec
from arraylake.server.db.schema import LIFECYCLE_GHOST, principals, repos
from arraylake.server.identity.principals import OrgScope
from arraylake.server.repos.records import RepoReader
from arraylake.types import Repo

MAX_GHOSTS = 1000


async def list_ghosts(conn: AsyncConnection, codec: BucketCodec, org: OrgScope) -> list[Repo]:
    """The org's restorable repos, those removed soonest first (at most :data:`MAX_GHOSTS`), each with who
    deleted it and until when it can be restored, as a listing with ``include_ghosts`` has them."""
    rows = (
        await conn.execute(
            select(repos)
            .where(repos.c.org_id == org.org_id, repos.c.lifecycle == LIFECYCLE_GHOST)
            .order_by(repos.c.cleanup_due_at, repos.c.name)
            .limit(MAX_GHOSTS)
        )
    ).all()
    reader = RepoReader(conn, codec, org)
    deleters = sorted({row.deleted_by for row in rows if row.deleted_by})
    if deleters:
        found = await conn.execute(
            select(principals.c.id, principals.c.email).where(principals.c.id.in_(deleters))
        )
        reader.deleter_emails = {row.id: row.email for row in found}
    return await reader.many(list(rows))
