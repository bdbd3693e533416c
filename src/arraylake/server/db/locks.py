"""Serializing changes within one org."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import orgs


async def lock_org(conn: AsyncConnection, org_id: str) -> None:
    """Hold the org until the transaction ends, so that check-then-write sequences on it run one at a time.

    A no-op write to the org's row takes the row lock on PostgreSQL and the write lock on SQLite, before
    anything is read (used for repo creation's name and prefix checks, and for "the last admin" checks).
    """
    await conn.execute(update(orgs).where(orgs.c.id == org_id).values(display_name=orgs.c.display_name))
