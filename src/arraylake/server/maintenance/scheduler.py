"""The scheduler every service worker runs: purges of deleted repos, due maintenance runs, audit checkpoints.

Each round does what is due and sleeps ``janitor_interval_seconds``. Work is claimed through leases in the
catalog, so that any number of workers can run it and each piece of work is done once. A maintenance run is
due for an active Icechunk repo whose policy enables expiration or GC, once per opening of its window, while
the window is open; it is executed in the background (``worker``), so that a long run holds up no round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server import metrics
from arraylake.server.audit.checkpoints import checkpoint_if_due
from arraylake.server.audit.record import SERVICE_ACTOR, record
from arraylake.server.context import AppContext
from arraylake.server.db.schema import LIFECYCLE_ACTIVE, orgs, repos
from arraylake.server.logs import get_logger
from arraylake.server.maintenance import runs
from arraylake.server.maintenance.policy import effective, window_is_open, window_opening
from arraylake.server.maintenance.worker import Worker
from arraylake.server.repos.cleanup import Cleaner
from arraylake.server.settings import ServerSettings
from arraylake.types import RepoKind, utcnow

log = get_logger("arraylake.server.scheduler")


async def request_due_runs(engine: AsyncEngine, settings: ServerSettings, now: datetime) -> list[str]:
    """Queue a scheduled run for every repo whose window is open and that has had none since it opened;
    the ids of the runs queued."""
    async with engine.connect() as conn:
        candidates = (
            await conn.execute(
                select(
                    repos.c.id,
                    repos.c.name,
                    repos.c.org_id,
                    repos.c.optimization_config,
                    orgs.c.name.label("org"),
                    orgs.c.optimization_config.label("org_config"),
                )
                .join(orgs, orgs.c.id == repos.c.org_id)
                .where(
                    repos.c.lifecycle == LIFECYCLE_ACTIVE,
                    repos.c.kind == RepoKind.Icechunk.value,
                    or_(repos.c.optimization_config.is_not(None), orgs.c.optimization_config.is_not(None)),
                )
            )
        ).all()
    queued: list[str] = []
    for row in candidates:
        try:
            policy = effective(row.optimization_config, row.org_config, settings, now)
        except (ValidationError, ValueError) as exc:
            log.warning(
                "maintenance policy unreadable; repo skipped", repo=f"{row.org}/{row.name}", error=str(exc)
            )
            continue
        if policy.next_window_start is None or not window_is_open(policy.window, now):
            continue
        opened = window_opening(policy.window, now)
        async with engine.begin() as conn:
            if await runs.scheduled_since(conn, row.id, opened) or await runs.active_run(conn, row.id):
                continue
            run_id = await runs.request_run(
                conn,
                row.id,
                trigger="scheduled",
                dry_run=False,
                requested_by=None,
                policy=policy.model_dump(mode="json"),
            )
            await record(
                conn,
                "maintenance.run_requested",
                actor_id=SERVICE_ACTOR,
                actor_name=SERVICE_ACTOR,
                org_id=row.org_id,
                org=row.org,
                repo=row.name,
                details={"run_id": run_id, "trigger": "scheduled", "dry_run": False},
            )
        log.info("maintenance run scheduled", repo=f"{row.org}/{row.name}", run_id=run_id)
        queued.append(run_id)
    return queued


async def _step(name: str, work: Awaitable[Any]) -> bool:
    """Run one part of a round; a failure is logged, and the round goes on with the next part."""
    try:
        await work
        return True
    except Exception as exc:
        log.warning("scheduler step failed", step=name, error=str(exc))
        return False


async def run_scheduler(ctx: AppContext) -> None:
    """Run rounds until cancelled; a failed step is logged and the next round tries again."""
    cleaner = Cleaner(ctx.engine, ctx.codec, ctx.vendor)
    worker = Worker(ctx)
    while True:
        steps = [
            await _step("purges", cleaner.run_once()),
            await _step("due maintenance", request_due_runs(ctx.engine, ctx.settings, utcnow())),
            await _step("maintenance runs", worker.pick_up()),
            await _step("audit checkpoint", checkpoint_if_due(ctx.engine, ctx.signer, ctx.settings)),
        ]
        metrics.JANITOR_ROUNDS.labels("ok" if all(steps) else "failed").inc()
        await asyncio.sleep(ctx.settings.janitor_interval_seconds)
