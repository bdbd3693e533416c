"""Removing the data of deleted repos, safely across crashes and several service processes.

A repo whose data must go is marked ``deleting``. Whoever removes its data first *claims* it by stamping
``cleanup_started_at`` and renews that stamp after every batch of deleted objects. A claim not renewed for
``cleanup_lease_seconds`` is stale: the process that held it died, and the next janitor round (also run at
start-up) takes over. The row is dropped only once the data is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server import faults, metrics, storage_ops
from arraylake.server.audit.record import SERVICE_ACTOR, record
from arraylake.server.buckets.service import BucketCodec
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.db.schema import (
    LIFECYCLE_CREATING,
    LIFECYCLE_DELETING,
    LIFECYCLE_GHOST,
    buckets,
    orgs,
    repos,
)
from arraylake.server.logs import get_logger
from arraylake.server.repos.deletion import drop_row
from arraylake.server.v1.documents import purge_documents
from arraylake.storage import can_write
from arraylake.types import RepoKind, utcnow

log = get_logger("arraylake.server.cleanup")
DOCUMENT_BATCH = 10_000


@dataclass
class Cleaner:
    engine: AsyncEngine
    codec: BucketCodec
    vendor: CredentialVendor

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.codec.settings.cleanup_lease_seconds)

    async def claim(self, repo_id: str) -> bool:
        """Take over the data removal of a ``deleting`` repo unless someone else holds a live claim."""
        now = utcnow()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(repos)
                .where(
                    repos.c.id == repo_id,
                    repos.c.lifecycle == LIFECYCLE_DELETING,
                    or_(repos.c.cleanup_started_at.is_(None), repos.c.cleanup_started_at < now - self.lease),
                )
                .values(cleanup_started_at=now)
            )
            return result.rowcount == 1

    async def _renew(self, repo_id: str, removed: int) -> None:
        """Keep the claim, and say how far the removal has come."""
        async with self.engine.begin() as conn:
            await conn.execute(
                update(repos)
                .where(repos.c.id == repo_id)
                .values(cleanup_started_at=utcnow(), cleanup_removed=removed)
            )

    async def purge(self, repo_id: str) -> int:
        """Delete the data of a claimed ``deleting`` repo, then its row. Returns the number of objects."""
        with metrics.DELETIONS_ACTIVE.track_inprogress():
            try:
                deleted = await self._purge(repo_id)
            except Exception:
                metrics.REPO_DATA_REMOVALS.labels("failed").inc()
                raise
        metrics.REPO_DATA_REMOVALS.labels("done").inc()
        metrics.REPO_OBJECTS_DELETED.inc(deleted)
        return deleted

    async def _purge(self, repo_id: str) -> int:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        repos.c.kind,
                        repos.c.prefix,
                        repos.c.retain_data,
                        repos.c.bucket_id,
                        repos.c.name,
                        repos.c.org_id,
                        orgs.c.name.label("org"),
                    )
                    .join(orgs, orgs.c.id == repos.c.org_id)
                    .where(repos.c.id == repo_id, repos.c.lifecycle == LIFECYCLE_DELETING)
                )
            ).one_or_none()
            bucket_row = None
            if row is not None and row.bucket_id is not None:
                bucket_row = (
                    await conn.execute(select(buckets).where(buckets.c.id == row.bucket_id))
                ).one_or_none()
        if row is None:
            return 0
        deleted = 0
        if bucket_row is not None and not row.retain_data:
            bucket = self.codec.to_wire(bucket_row, default_bucket_id=None, org_name=row.org, internal=True)
            if can_write(bucket):
                first = True

                async def after_batch(count: int) -> None:
                    nonlocal first
                    await self._renew(repo_id, count)
                    await faults.pause_point(self.codec.settings, faults.DELETE_SLOWLY)
                    if first:
                        first = False
                        faults.crash_point(self.codec.settings, faults.DELETE_AFTER_FIRST_BATCH)

                deleted = await storage_ops.delete_prefix(
                    bucket,
                    row.prefix,
                    await self.vendor.for_service(bucket, row.prefix),
                    after_batch=after_batch,
                    batch_size=self.codec.settings.delete_batch_size,
                )
        if row.kind == RepoKind.V1:
            await self._purge_documents(repo_id)
        async with self.engine.begin() as conn:
            if not await drop_row(conn, repo_id):
                return deleted  # another process finished it (and recorded it)
            await record(
                conn,
                "repo.purge",
                actor_id=SERVICE_ACTOR,
                actor_name=SERVICE_ACTOR,
                org_id=row.org_id,
                org=row.org,
                repo=row.name,
                target=repo_id,
                details={"objects_deleted": deleted, "data": "kept" if row.retain_data else "removed"},
            )
        log.info("repo data removed", repo=f"{row.org}/{row.name}", repo_id=repo_id, objects=deleted)
        return deleted

    async def _purge_documents(self, repo_id: str) -> None:
        """A V1 repo's documents go in batches, the claim renewed after each: dropping the row would delete
        them all (by cascade) in one long transaction."""
        while True:
            async with self.engine.begin() as conn:
                gone = await purge_documents(conn, repo_id, DOCUMENT_BATCH)
                await conn.execute(
                    update(repos).where(repos.c.id == repo_id).values(cleanup_started_at=utcnow())
                )
            if gone < DOCUMENT_BATCH:
                return

    async def promote_due(self) -> None:
        """Ghosts past their grace period and reservations past their lease become ``deleting``."""
        now = utcnow()
        async with self.engine.begin() as conn:
            await conn.execute(
                update(repos)
                .where(
                    or_(
                        and_(repos.c.lifecycle == LIFECYCLE_GHOST, repos.c.cleanup_due_at <= now),
                        and_(repos.c.lifecycle == LIFECYCLE_CREATING, repos.c.lease_expires_at <= now),
                    )
                )
                .values(
                    lifecycle=LIFECYCLE_DELETING, live_name=None, cleanup_due_at=now, cleanup_started_at=None
                )
            )

    async def run_once(self) -> int:
        """One janitor round: promote what is due, then finish every unclaimed or abandoned deletion."""
        await self.promote_due()
        now = utcnow()
        async with self.engine.connect() as conn:
            ids = (
                (
                    await conn.execute(
                        select(repos.c.id).where(
                            repos.c.lifecycle == LIFECYCLE_DELETING,
                            or_(
                                repos.c.cleanup_started_at.is_(None),
                                repos.c.cleanup_started_at < now - self.lease,
                            ),
                        )
                    )
                )
                .scalars()
                .all()
            )
        done = 0
        for repo_id in ids:
            if await self.claim(repo_id):
                try:
                    await self.purge(repo_id)
                    done += 1
                except Exception as exc:
                    log.warning("repo data removal failed; will retry", repo_id=repo_id, error=str(exc))
        return done
