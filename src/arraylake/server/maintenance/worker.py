"""Executing maintenance runs: claim one, hold its lease, do its phases, record how it ended.

A run's phases are ``expire``, ``gc`` and ``measure``, in that order; ``phase`` in its row names the last one
done (with the report so far), so that a worker that takes over a run whose worker died resumes after it.
While a run that changes the repo works, the repo shows status ``maintenance`` (if it was ``online``) with an
estimated end; reads and writes keep working, as Icechunk guarantees, and the previous status comes back at
the end. A dry run only previews, deleting nothing and leaving the status alone.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server import faults
from arraylake.server.audit.record import SERVICE_ACTOR, record
from arraylake.server.catalog_cache import cache_neutral
from arraylake.server.context import AppContext
from arraylake.server.db.schema import LIFECYCLE_ACTIVE, buckets, maintenance_runs, orgs, repos
from arraylake.server.logs import get_logger
from arraylake.server.maintenance import runs
from arraylake.server.maintenance.engine import (
    MaintenanceFailed,
    RepoTarget,
    collect,
    expiration_cutoff,
    expire,
    gc_cutoff,
    measure,
)
from arraylake.server.maintenance.policy import window_opening
from arraylake.server.maintenance.preview import preview
from arraylake.types import RepoKind, utcnow
from arraylake.types.maintenance import EffectiveMaintenance, MaintenanceReport

log = get_logger("arraylake.server.maintenance")

PHASES = ("expire", "gc", "measure")
PREVIEWED = "preview"
STATUS_MESSAGE = (
    "scheduled maintenance: expiring old snapshots and collecting garbage; reads and writes keep working"
)
ERROR_LENGTH = 300


def worker_id() -> str:
    """This worker's lease owner name: host, process and a random part (two workers never share one)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


class RunRefused(Exception):
    """The run cannot do its work (its repo has gone); it ends as failed with this message."""


@dataclass(frozen=True)
class Claimed:
    """A run this worker holds the lease of, with what it needs of its repo."""

    run: Row[Any]
    repo_id: str
    org_id: str
    org: str
    repo: str
    kind: str
    lifecycle: str
    bucket_id: str | None
    prefix: str

    @property
    def run_id(self) -> str:
        return str(self.run.id)


class Worker:
    """Executes claimed runs in the background, one at a time per process."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.owner = worker_id()
        self.current: asyncio.Task[None] | None = None

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.ctx.settings.maintenance_lease_seconds)

    @property
    def busy(self) -> bool:
        return self.current is not None and not self.current.done()

    async def pick_up(self) -> str | None:
        """Claim the oldest claimable run and start it in the background, unless this worker is busy; the
        run's id, or ``None``."""
        if self.busy:
            return None
        async with self.ctx.reader.connect() as conn:
            candidates = await runs.claimable(conn)
        for run_id in candidates:
            claimed = await self._claim(run_id)
            if claimed is not None:
                self.current = self.ctx.spawn(self.execute(claimed))
                return run_id
        return None

    async def _claim(self, run_id: str) -> Claimed | None:
        async with self.ctx.engine.begin() as conn:
            if not await runs.claim(conn, run_id, self.owner, self.lease):
                return None
            row = (
                await conn.execute(
                    select(
                        maintenance_runs,
                        repos.c.org_id,
                        repos.c.name.label("repo_name"),
                        repos.c.kind,
                        repos.c.lifecycle,
                        repos.c.bucket_id,
                        repos.c.prefix,
                        orgs.c.name.label("org_name"),
                    )
                    .join(repos, repos.c.id == maintenance_runs.c.repo_id)
                    .join(orgs, orgs.c.id == repos.c.org_id)
                    .where(maintenance_runs.c.id == run_id)
                )
            ).one()
            claimed = Claimed(
                run=row,
                repo_id=row.repo_id,
                org_id=row.org_id,
                org=row.org_name,
                repo=row.repo_name,
                kind=row.kind,
                lifecycle=row.lifecycle,
                bucket_id=row.bucket_id,
                prefix=row.prefix,
            )
            await record(
                conn,
                "maintenance.run_started",
                actor_id=SERVICE_ACTOR,
                actor_name=SERVICE_ACTOR,
                org_id=claimed.org_id,
                org=claimed.org,
                repo=claimed.repo,
                details={
                    "run_id": run_id,
                    "trigger": row.trigger,
                    "dry_run": row.dry_run,
                    "attempt": row.attempts,
                    "resumed_after": row.phase,
                },
            )
        return claimed

    async def execute(self, claimed: Claimed) -> None:
        """Do the run to its end (or until its lease is lost to another worker), then record how it ended."""
        bound = log.bind(run_id=claimed.run_id, repo=f"{claimed.org}/{claimed.repo}")
        bound.info(
            "maintenance run started",
            attempt=claimed.run.attempts,
            dry_run=claimed.run.dry_run,
            resumed_after=claimed.run.phase,
        )
        report = (
            MaintenanceReport.model_validate(claimed.run.report)
            if claimed.run.report
            else MaintenanceReport(dry_run=claimed.run.dry_run)
        )
        lost = asyncio.Event()
        body = asyncio.current_task()
        assert body is not None
        heartbeat = asyncio.create_task(self._heartbeat(claimed.run_id, body, lost))
        error: str | None = None
        try:
            report = await self._work(claimed, report)
        except asyncio.CancelledError:
            if lost.is_set():
                bound.warning("maintenance run lease lost; another worker carries on")
                return
            raise
        except Exception as exc:
            error = _short(exc)
            bound.warning("maintenance run failed", error=error)
        finally:
            heartbeat.cancel()
        await self._finish(claimed, report, error)
        bound.info(
            "maintenance run finished",
            state="failed" if error else "succeeded",
            expired_snapshots=report.expired_snapshots,
            objects=report.reclaimed.objects if report.reclaimed else 0,
            bytes=report.reclaimed.bytes if report.reclaimed else 0,
        )

    async def _heartbeat(self, run_id: str, body: asyncio.Task[Any], lost: asyncio.Event) -> None:
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                async with self.ctx.engine.begin() as conn:
                    cache_neutral(conn)  # a renewal changes nothing the request paths cache
                    kept = await runs.renew(conn, run_id, self.owner, self.lease)
            except Exception as exc:  # a database hiccup: try again; the lease may still hold
                log.warning("maintenance lease renewal failed", run_id=run_id, error=str(exc))
                continue
            if not kept:
                lost.set()
                body.cancel()
                return

    async def _work(self, claimed: Claimed, report: MaintenanceReport) -> MaintenanceReport:
        settings = self.ctx.settings
        policy = EffectiveMaintenance.model_validate(claimed.run.policy)
        if claimed.lifecycle != LIFECYCLE_ACTIVE:
            raise RunRefused("the repo was deleted before its maintenance run")
        if claimed.kind != RepoKind.Icechunk:
            report.skipped.append("legacy V1 repos are not maintained: only Icechunk repos are")
            return report
        target = await self._target(claimed)
        if claimed.run.dry_run:
            await self._estimate_end(claimed, status=False)
            report = await preview(target, policy, utcnow())
            await self._phase_done(claimed.run_id, PREVIEWED, report)
            return report
        await self._estimate_end(claimed, status=True)
        await faults.hold_point(settings, faults.MAINTENANCE_HELD)
        done = PHASES.index(claimed.run.phase) + 1 if claimed.run.phase in PHASES else 0
        for phase in PHASES[done:]:
            now = utcnow()  # each phase's cutoffs count from when it starts, after any wait before it
            if phase == "expire":
                await self._expire(claimed, target, policy, now, report)
            elif phase == "gc":
                await self._collect(claimed, target, policy, now, report)
            else:
                report.size_bytes = await measure(target)
                async with self.ctx.engine.begin() as conn:
                    await conn.execute(
                        update(repos)
                        .where(repos.c.id == claimed.repo_id)
                        .values(size_bytes=report.size_bytes, size_measured_at=utcnow())
                    )
            await self._phase_done(claimed.run_id, phase, report)
            if phase == "expire":
                faults.crash_point(settings, faults.MAINTENANCE_AFTER_EXPIRE)
            await faults.pause_point(settings, faults.MAINTENANCE_SLOWLY)
        return report

    async def _expire(
        self,
        claimed: Claimed,
        target: RepoTarget,
        policy: EffectiveMaintenance,
        now: datetime,
        report: MaintenanceReport,
    ) -> None:
        expiration = policy.expiration
        if expiration is None or not expiration.enabled:
            report.skipped.append("expiration: not enabled in the policy")
            return
        why_not = await self._not_due(claimed, policy, expiration.expire_every, "expire_before", now)
        if why_not:
            report.skipped.append(f"expiration: {why_not}")
            return
        refs, expired = await expire(target, policy, now)
        report.refs = refs
        report.expired_snapshots = expired
        report.expire_before = expiration_cutoff(policy, now)

    async def _collect(
        self,
        claimed: Claimed,
        target: RepoTarget,
        policy: EffectiveMaintenance,
        now: datetime,
        report: MaintenanceReport,
    ) -> None:
        gc = policy.gc
        if gc is None or not gc.enabled:
            report.skipped.append("garbage collection: not enabled in the policy")
            return
        why_not = await self._not_due(claimed, policy, gc.gc_every, "gc_before", now)
        if why_not:
            report.skipped.append(f"garbage collection: {why_not}")
            return
        report.reclaimed = await collect(target, policy, now)
        report.gc_before = gc_cutoff(policy, now)

    async def _not_due(
        self,
        claimed: Claimed,
        policy: EffectiveMaintenance,
        every: timedelta | None,
        marker: str,
        now: datetime,
    ) -> str | None:
        """Why a phase of a scheduled run is not due (its ``*_every`` has not passed since it last ran), or
        ``None``. Windows are compared, not instants: a weekly window and ``every`` of 7 days run each week
        however long into the window each run started. Requested runs always do every enabled phase."""
        if every is None or claimed.run.trigger != "scheduled":
            return None
        async with self.ctx.reader.connect() as conn:
            history = await runs.recent_successes(conn, claimed.repo_id)
        last = next((row for row in history if (row.report or {}).get(marker)), None)
        if last is None or last.started_at is None:
            return None
        since = window_opening(policy.window, now) - window_opening(policy.window, last.started_at)
        if since >= every:
            return None
        return (
            f"last done by the run of {last.started_at:%Y-%m-%d %H:%M} UTC; "
            f"the policy asks for at most once every {every}"
        )

    async def _target(self, claimed: Claimed) -> RepoTarget:
        if claimed.bucket_id is None:
            raise RunRefused("the repo has no bucket")
        async with self.ctx.reader.connect() as conn:
            bucket_row = (
                await conn.execute(select(buckets).where(buckets.c.id == claimed.bucket_id))
            ).one_or_none()
        if bucket_row is None:
            raise RunRefused("the repo's bucket config is gone")
        bucket = self.ctx.codec.to_wire(
            bucket_row, default_bucket_id=None, org_name=claimed.org, internal=True
        )
        credentials = await self.ctx.vendor.for_service(bucket, claimed.prefix)
        return RepoTarget(
            org=claimed.org, name=claimed.repo, bucket=bucket, prefix=claimed.prefix, credentials=credentials
        )

    async def _estimate_end(self, claimed: Claimed, *, status: bool) -> None:
        """Say when the run should end; with ``status``, put an online repo in ``maintenance`` until then,
        keeping its status to restore (a run resumed after a crash finds it kept already)."""
        async with self.ctx.engine.begin() as conn:
            run = (
                await conn.execute(
                    select(maintenance_runs.c.previous_status).where(maintenance_runs.c.id == claimed.run_id)
                )
            ).one()
            end = utcnow() + await self._expected_duration(conn, claimed.repo_id)
            await conn.execute(
                update(maintenance_runs)
                .where(maintenance_runs.c.id == claimed.run_id, maintenance_runs.c.lease_owner == self.owner)
                .values(estimated_end=end)
            )
            if not status or run.previous_status is not None:
                return
            repo = (
                await conn.execute(select(repos).where(repos.c.id == claimed.repo_id).with_for_update())
            ).one()
            if repo.status_mode != "online":  # an admin's maintenance or offline stays as it is
                return
            previous = {
                "mode": repo.status_mode,
                "message": repo.status_message,
                "initiated_by": repo.status_initiated_by,
                "estimated_end_time": (
                    repo.status_estimated_end_time.isoformat() if repo.status_estimated_end_time else None
                ),
            }
            await conn.execute(
                update(maintenance_runs)
                .where(maintenance_runs.c.id == claimed.run_id)
                .values(previous_status=previous)
            )
            await conn.execute(
                update(repos)
                .where(repos.c.id == claimed.repo_id)
                .values(
                    status_mode="maintenance",
                    status_message=STATUS_MESSAGE,
                    status_initiated_by={"principal_id": SERVICE_ACTOR, "maintenance_run": claimed.run_id},
                    status_estimated_end_time=end,
                )
            )

    async def _expected_duration(self, conn: AsyncConnection, repo_id: str) -> timedelta:
        """The last successful run's duration, else the service's first guess."""
        for row in await runs.recent_successes(conn, repo_id, limit=1):
            if row.started_at is not None and row.finished_at is not None:
                return max(row.finished_at - row.started_at, timedelta(seconds=1))
        return timedelta(seconds=self.ctx.settings.maintenance_run_estimate_seconds)

    async def _phase_done(self, run_id: str, phase: str, report: MaintenanceReport) -> None:
        async with self.ctx.engine.begin() as conn:
            await conn.execute(
                update(maintenance_runs)
                .where(maintenance_runs.c.id == run_id, maintenance_runs.c.lease_owner == self.owner)
                .values(phase=phase, report=report.model_dump(mode="json"))
            )

    async def _finish(self, claimed: Claimed, report: MaintenanceReport, error: str | None) -> None:
        """End the run (unless another worker took it over), restore the repo's status if the run set it and
        it is still the run's, and record it in the audit log, all in one transaction."""
        state = "failed" if error else "succeeded"
        async with self.ctx.engine.begin() as conn:
            ended = await conn.execute(
                update(maintenance_runs)
                .where(
                    maintenance_runs.c.id == claimed.run_id,
                    maintenance_runs.c.lease_owner == self.owner,
                    maintenance_runs.c.state == "running",
                )
                .values(
                    state=state,
                    finished_at=utcnow(),
                    report=report.model_dump(mode="json"),
                    error=error,
                    lease_expires_at=None,
                )
            )
            if ended.rowcount != 1:
                return
            await self._restore_status(conn, claimed)
            reclaimed = report.reclaimed
            await record(
                conn,
                "maintenance.run_finished",
                actor_id=SERVICE_ACTOR,
                actor_name=SERVICE_ACTOR,
                org_id=claimed.org_id,
                org=claimed.org,
                repo=claimed.repo,
                outcome="failed" if error else "ok",
                details={
                    "run_id": claimed.run_id,
                    "trigger": claimed.run.trigger,
                    "dry_run": claimed.run.dry_run,
                    "state": state,
                    "expired_snapshots": report.expired_snapshots,
                    "objects": reclaimed.objects if reclaimed else 0,
                    "bytes": reclaimed.bytes if reclaimed else 0,
                    "error": error,
                },
            )

    async def _restore_status(self, conn: AsyncConnection, claimed: Claimed) -> None:
        previous = (
            await conn.execute(
                select(maintenance_runs.c.previous_status).where(maintenance_runs.c.id == claimed.run_id)
            )
        ).scalar_one()
        if not previous:
            return
        repo = (
            await conn.execute(
                select(repos.c.status_initiated_by).where(repos.c.id == claimed.repo_id).with_for_update()
            )
        ).one_or_none()
        if repo is None or (repo.status_initiated_by or {}).get("maintenance_run") != claimed.run_id:
            return  # someone changed the status during the run: theirs stands
        end = previous.get("estimated_end_time")
        await conn.execute(
            update(repos)
            .where(repos.c.id == claimed.repo_id)
            .values(
                status_mode=previous["mode"],
                status_message=previous.get("message"),
                status_initiated_by=previous.get("initiated_by") or {},
                status_estimated_end_time=datetime.fromisoformat(end) if end else None,
            )
        )


def _short(exc: BaseException) -> str:
    """A one-line error for the run's history: the kind and the first line of the message, no more."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = first if isinstance(exc, RunRefused | MaintenanceFailed) else f"{type(exc).__name__}: {first}"
    return text[:ERROR_LENGTH]
