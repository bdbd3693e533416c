"""Maintenance runs in the catalog: asking for one, reading them, and the lease a worker holds while it works.

A run is ``queued`` until a worker claims it (``running``, with ``lease_owner`` and ``lease_expires_at``),
then ``succeeded`` or ``failed``. A running run whose lease lapsed (its worker died) can be claimed again:
``phase`` says the last step it finished, so the next worker resumes after it. One run per repo is queued or
running at a time.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import maintenance_runs, repos
from arraylake.server.errors import Conflict, InvalidInput
from arraylake.types import utcnow
from arraylake.types.maintenance import MaintenanceReport, MaintenanceRun, MaintenanceRunPage, RunTrigger

ACTIVE_STATES = ("queued", "running")


def to_wire(row: Row[Any], org: str, repo: str) -> MaintenanceRun:
    return MaintenanceRun(
        id=row.id,
        org=org,
        repo=repo,
        trigger=row.trigger,
        dry_run=row.dry_run,
        state=row.state,
        phase=row.phase,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        estimated_end=row.estimated_end,
        attempts=row.attempts,
        report=MaintenanceReport.model_validate(row.report) if row.report else None,
        error=row.error,
    )


async def active_run(conn: AsyncConnection, repo_id: str) -> Row[Any] | None:
    """The repo's queued or running run, if any."""
    return (
        await conn.execute(
            select(maintenance_runs)
            .where(maintenance_runs.c.repo_id == repo_id, maintenance_runs.c.state.in_(ACTIVE_STATES))
            .limit(1)
        )
    ).one_or_none()


async def request_run(
    conn: AsyncConnection,
    repo_id: str,
    *,
    trigger: RunTrigger,
    dry_run: bool,
    requested_by: str | None,
    policy: dict[str, Any],
) -> str:
    """Queue a run of the repo (``policy``: the effective policy as JSON); 409 if one is queued or running."""
    # The repo's row lock serializes two requests (say, two workers' schedulers) for the same repo.
    await conn.execute(select(repos.c.id).where(repos.c.id == repo_id).with_for_update())
    if await active_run(conn, repo_id) is not None:
        raise Conflict("a maintenance run of this repo is already queued or running; wait for it to end")
    run_id = str(uuid.uuid4())
    await conn.execute(
        maintenance_runs.insert().values(
            id=run_id,
            repo_id=repo_id,
            trigger=trigger,
            dry_run=dry_run,
            state="queued",
            requested_by=requested_by,
            requested_at=utcnow(),
            attempts=0,
            policy=policy,
        )
    )
    return run_id


async def get_run(conn: AsyncConnection, repo_id: str, run_id: str) -> Row[Any] | None:
    return (
        await conn.execute(
            select(maintenance_runs).where(
                maintenance_runs.c.id == run_id, maintenance_runs.c.repo_id == repo_id
            )
        )
    ).one_or_none()


def _cursor(row: Row[Any]) -> str:
    raw = json.dumps([row.requested_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, str]:
    try:
        when, run_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(when), str(run_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidInput("cursor: not a cursor this service gave out") from exc


async def list_runs(
    conn: AsyncConnection, repo_id: str, org: str, repo: str, *, limit: int = 20, cursor: str | None = None
) -> MaintenanceRunPage:
    """The repo's runs, newest first, a page at a time."""
    query = select(maintenance_runs).where(maintenance_runs.c.repo_id == repo_id)
    if cursor:
        when, run_id = _after(cursor)
        query = query.where(
            or_(
                maintenance_runs.c.requested_at < when,
                and_(maintenance_runs.c.requested_at == when, maintenance_runs.c.id < run_id),
            )
        )
    rows = (
        await conn.execute(
            query.order_by(maintenance_runs.c.requested_at.desc(), maintenance_runs.c.id.desc()).limit(
                limit + 1
            )
        )
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return MaintenanceRunPage(
        items=[to_wire(row, org, repo) for row in rows], next_cursor=_cursor(rows[-1]) if more else None
    )


async def latest_run(conn: AsyncConnection, repo_id: str, org: str, repo: str) -> MaintenanceRun | None:
    page = await list_runs(conn, repo_id, org, repo, limit=1)
    return page.items[0] if page.items else None


async def claim(conn: AsyncConnection, run_id: str, owner: str, lease: timedelta) -> bool:
    """Take the run's lease: a queued run, or a running one whose lease lapsed. True if this worker got it."""
    now = utcnow()
    result = await conn.execute(
        update(maintenance_runs)
        .where(
            maintenance_runs.c.id == run_id,
            or_(
                maintenance_runs.c.state == "queued",
                and_(maintenance_runs.c.state == "running", maintenance_runs.c.lease_expires_at < now),
            ),
        )
        .values(
            state="running",
            lease_owner=owner,
            lease_expires_at=now + lease,
            started_at=func.coalesce(maintenance_runs.c.started_at, now),  # a resumed run keeps its start
            attempts=maintenance_runs.c.attempts + 1,
        )
    )
    return result.rowcount == 1


async def renew(conn: AsyncConnection, run_id: str, owner: str, lease: timedelta) -> bool:
    """Extend the lease while working; False if another worker has taken the run over."""
    result = await conn.execute(
        update(maintenance_runs)
        .where(maintenance_runs.c.id == run_id, maintenance_runs.c.lease_owner == owner)
        .values(lease_expires_at=utcnow() + lease)
    )
    return result.rowcount == 1


async def claimable(conn: AsyncConnection) -> list[str]:
    """Runs a worker may claim now: queued ones, and running ones whose lease lapsed (oldest first)."""
    now = utcnow()
    return list(
        (
            await conn.execute(
                select(maintenance_runs.c.id)
                .where(
                    or_(
                        maintenance_runs.c.state == "queued",
                        and_(
                            maintenance_runs.c.state == "running", maintenance_runs.c.lease_expires_at < now
                        ),
                    )
                )
                .order_by(maintenance_runs.c.requested_at)
            )
        )
        .scalars()
        .all()
    )


async def recent_successes(conn: AsyncConnection, repo_id: str, limit: int = 20) -> list[Row[Any]]:
    """The repo's latest succeeded runs that changed something (not dry), newest first."""
    return list(
        (
            await conn.execute(
                select(maintenance_runs)
                .where(
                    maintenance_runs.c.repo_id == repo_id,
                    maintenance_runs.c.state == "succeeded",
                    maintenance_runs.c.dry_run.is_(False),
                )
                .order_by(maintenance_runs.c.finished_at.desc())
                .limit(limit)
            )
        ).all()
    )


async def scheduled_since(conn: AsyncConnection, repo_id: str, since: datetime) -> bool:
    """Whether a scheduled (not dry) run of the repo was requested at or after ``since``."""
    found = (
        await conn.execute(
            select(maintenance_runs.c.id)
            .where(
                maintenance_runs.c.repo_id == repo_id,
                maintenance_runs.c.trigger == "scheduled",
                maintenance_runs.c.dry_run.is_(False),
                maintenance_runs.c.requested_at >= since,
            )
            .limit(1)
        )
    ).first()
    return found is not None
