"""Ending a repo: delete (into a restorable ghost, or at once), restore a ghost, follow its data removal.

Deleting either drops the row (``retain_data``), turns it into a restorable ``ghost``, or marks it
``deleting`` until its data has gone (see :mod:`.cleanup`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.names import validate_repo_name
from arraylake.server.audit.record import record
from arraylake.server.buckets.service import BucketCodec
from arraylake.server.db.schema import (
    LIFECYCLE_ACTIVE,
    LIFECYCLE_CREATING,
    LIFECYCLE_DELETING,
    LIFECYCLE_GHOST,
    repo_metadata,
    repos,
)
from arraylake.server.errors import Conflict, NotFound
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.server.repos.records import get_repo, repo_row
from arraylake.types import Repo, RepoDeletionProgress, utcnow


async def deletion_progress(conn: AsyncConnection, org: OrgScope, repo_id: str) -> RepoDeletionProgress:
    """How far the removal of a ``deleting`` repo's data has come; not in progress once its row is gone."""
    row = (
        await conn.execute(
            select(repos.c.cleanup_removed).where(
                repos.c.id == repo_id, repos.c.org_id == org.org_id, repos.c.lifecycle == LIFECYCLE_DELETING
            )
        )
    ).one_or_none()
    if row is None:
        return RepoDeletionProgress(repo_id=repo_id, in_progress=False)
    return RepoDeletionProgress(repo_id=repo_id, in_progress=True, removed_objects=row.cleanup_removed or 0)


async def drop_row(conn: AsyncConnection, repo_id: str) -> bool:
    """Remove a repo's row and its metadata index for good; false if it was gone already."""
    await conn.execute(delete(repo_metadata).where(repo_metadata.c.repo_id == repo_id))
    return (await conn.execute(delete(repos).where(repos.c.id == repo_id))).rowcount == 1


async def delete_repo(
    conn: AsyncConnection,
    org: OrgScope,
    principal: Principal,
    name: str,
    *,
    immediate: bool,
    retain_data: bool,
    grace_seconds: float,
) -> str | None:
    """Delete a repo; return its id when its data must now be removed (the caller runs the cleanup).

    * ``immediate`` and ``retain_data``: the row goes now; the data stays.
    * ``immediate``: the name is freed now; the row stays, hidden, until the data has gone.
    * neither: the repo becomes a ghost, restorable until the grace period ends.
    """
    row = await repo_row(conn, org, name, (LIFECYCLE_CREATING, LIFECYCLE_ACTIVE, LIFECYCLE_GHOST))
    now = utcnow()

    async def recorded(outcome: dict[str, Any]) -> None:
        details = {"immediate": immediate, "retain_data": retain_data, "was": row.lifecycle, **outcome}
        await record(
            conn,
            "repo.delete",
            actor=principal,
            org_id=org.org_id,
            org=org.org_name,
            repo=name,
            target=row.id,
            details=details,
        )

    if immediate and retain_data:
        await drop_row(conn, row.id)
        await recorded({"data": "kept"})
        return None
    marks: dict[str, Any] = {
        "deleted_at": now,
        "deleted_by": principal.id,
        "retain_data": retain_data,
        "updated": now,
    }
    if not immediate and row.lifecycle == LIFECYCLE_GHOST:
        return None  # deleted already: its deadline stays
    if not immediate and row.lifecycle != LIFECYCLE_CREATING:
        due = now + timedelta(seconds=grace_seconds)
        await conn.execute(
            update(repos)
            .where(repos.c.id == row.id)
            .values(lifecycle=LIFECYCLE_GHOST, cleanup_due_at=due, **marks)
        )
        await recorded({"restorable_until": due})
        return None
    await conn.execute(
        update(repos)
        .where(repos.c.id == row.id)
        .values(
            lifecycle=LIFECYCLE_DELETING, live_name=None, cleanup_due_at=now, cleanup_started_at=now, **marks
        )
    )
    await recorded({"data": "kept" if retain_data else "removing"})
    return row.id


async def restore_repo(
    conn: AsyncConnection, codec: BucketCodec, org: OrgScope, principal: Principal, name: str
) -> Repo:
    """Bring a ghost back before its data is removed; 409 saying why when that is not possible."""
    validate_repo_name(name)
    full = f"{org.org_name}/{name}"
    holder = (
        await conn.execute(
            select(repos.c.id, repos.c.lifecycle).where(
                repos.c.org_id == org.org_id, repos.c.live_name == name
            )
        )
    ).one_or_none()
    if holder is not None and holder.lifecycle == LIFECYCLE_GHOST:
        restored = await conn.execute(
            update(repos)
            .where(and_(repos.c.id == holder.id, repos.c.lifecycle == LIFECYCLE_GHOST))
            .values(
                lifecycle=LIFECYCLE_ACTIVE,
                deleted_at=None,
                deleted_by=None,
                cleanup_due_at=None,
                updated=utcnow(),
            )
        )
        if restored.rowcount == 1:
            await record(
                conn,
                "repo.restore",
                actor=principal,
                org_id=org.org_id,
                org=org.org_name,
                repo=name,
                target=holder.id,
            )
            return await get_repo(conn, codec, org, name)
    if holder is not None and holder.lifecycle == LIFECYCLE_ACTIVE:
        raise Conflict(f"repo {full} exists and is not deleted: there is nothing to restore")
    if holder is not None and holder.lifecycle == LIFECYCLE_CREATING:
        raise Conflict(f"the name {full} is being taken by a new repo: there is nothing to restore")
    purging = (
        await conn.execute(
            select(repos.c.id)
            .where(
                repos.c.org_id == org.org_id,
                repos.c.name == name,
                repos.c.lifecycle == LIFECYCLE_DELETING,
            )
            .limit(1)
        )
    ).one_or_none()
    if purging is not None:
        raise Conflict(
            f"repo {full} can no longer be restored: its grace period is over (or it was deleted "
            "with immediate=true) and its data is being removed"
        )
    raise NotFound(f"repo {full} not found: there is no deleted repo of that name to restore")
