"""A repo's and an org's maintenance policy, and asking for a run: the domain functions the API and the web
app share.

Each function works inside the caller's transaction (``conn``) and records its audit entry there, last, so
that the change and its entry land together or not at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.db.schema import orgs, repos
from arraylake.server.errors import Conflict, InvalidInput, NotFound
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.server.maintenance import runs
from arraylake.server.maintenance.policy import check_policy, describe_window, effective
from arraylake.server.repos.records import repo_row
from arraylake.server.settings import ServerSettings
from arraylake.types import RepoKind, utcnow
from arraylake.types.maintenance import (
    EffectiveMaintenance,
    MaintenanceRun,
    OptimizationConfig,
    RepoMaintenance,
)

__all__ = [
    "effective_for",
    "org_policy",
    "policy_summary",
    "repo_maintenance",
    "request_repo_run",
    "set_org_policy",
    "set_repo_policy",
]


def stored(config: OptimizationConfig) -> dict[str, Any] | None:
    """A policy as the catalog keeps it: JSON, or ``None`` when it sets nothing (all falls back)."""
    if config.window is None and config.gc_config is None and config.expiration_config is None:
        return None
    return config.model_dump(mode="json")


def loaded(raw: dict[str, Any] | None) -> OptimizationConfig:
    """A policy as the catalog keeps it, back as a model."""
    return OptimizationConfig.model_validate(raw) if raw else OptimizationConfig()


def policy_summary(config: OptimizationConfig) -> dict[str, Any]:
    """A policy in a few plain fields, for the audit log (``None``: that part falls back)."""
    expiration = config.expiration_config
    gc = config.gc_config
    return {
        "window": describe_window(config.window) if config.window is not None else None,
        "expiration": None
        if expiration is None
        else {
            "enabled": expiration.enabled,
            "older_than_seconds": int(expiration.expire_versions_older_than.total_seconds()),
        },
        "gc": None
        if gc is None
        else {
            "enabled": gc.enabled,
            "margin_seconds": int(max(gc.margins()).total_seconds()) if gc.margins() else None,
            "extra_roots": len(gc.extra_gc_roots),
        },
    }


async def _org_config(conn: AsyncConnection, scope: OrgScope) -> dict[str, Any] | None:
    row = (
        await conn.execute(select(orgs.c.optimization_config).where(orgs.c.id == scope.org_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"org {scope.org_name} not found")
    return row.optimization_config  # type: ignore[no-any-return]


def _check(config: OptimizationConfig, settings: ServerSettings) -> None:
    try:
        check_policy(config, settings)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _icechunk_only(scope: OrgScope, row: Row[Any]) -> None:
    if row.kind != RepoKind.Icechunk.value:
        raise Conflict(
            f"maintenance applies to Icechunk repos; {scope.org_name}/{row.name} is a {row.kind} repo"
        )


def effective_for(
    row: Row[Any], org_config: dict[str, Any] | None, settings: ServerSettings, now: datetime | None = None
) -> EffectiveMaintenance:
    """What applies to the repo of ``row`` (a ``repos`` row) in an org whose default is ``org_config``."""
    return effective(row.optimization_config, org_config, settings, now or datetime.now(UTC))


async def repo_maintenance(
    conn: AsyncConnection, settings: ServerSettings, scope: OrgScope, repo: str
) -> RepoMaintenance:
    """The repo's own policy, what applies (and where each part comes from), its latest run and size."""
    row = await repo_row(conn, scope, repo)
    return RepoMaintenance(
        org=scope.org_name,
        repo=row.name,
        config=loaded(row.optimization_config),
        effective=effective_for(row, await _org_config(conn, scope), settings),
        last_run=await runs.latest_run(conn, row.id, scope.org_name, row.name),
        size_bytes=row.size_bytes,
        size_measured_at=row.size_measured_at,
    )


async def set_repo_policy(
    conn: AsyncConnection,
    settings: ServerSettings,
    scope: OrgScope,
    repo: str,
    config: OptimizationConfig,
    principal: Principal,
) -> RepoMaintenance:
    """Replace the repo's own policy (parts left ``None`` fall back to the org's default).

    422 for a policy the service will not apply, 409 for a V1 repo.
    """
    _check(config, settings)
    row = await repo_row(conn, scope, repo)
    _icechunk_only(scope, row)
    await conn.execute(
        update(repos).where(repos.c.id == row.id).values(optimization_config=stored(config), updated=utcnow())
    )
    await record(
        conn,
        "repo.maintenance_policy",
        actor=principal,
        org_id=scope.org_id,
        org=scope.org_name,
        repo=row.name,
        details=policy_summary(config),
    )
    return await repo_maintenance(conn, settings, scope, repo)


async def request_repo_run(
    conn: AsyncConnection,
    settings: ServerSettings,
    scope: OrgScope,
    repo: str,
    *,
    dry_run: bool,
    principal: Principal,
) -> MaintenanceRun:
    """Queue a run of the repo now, outside its window, with the policy that applies to it.

    409 when a run is already queued or running, or for a V1 repo. A worker picks the run up shortly.
    """
    row = await repo_row(conn, scope, repo)
    _icechunk_only(scope, row)
    policy = effective_for(row, await _org_config(conn, scope), settings)
    run_id = await runs.request_run(
        conn,
        row.id,
        trigger="requested",
        dry_run=dry_run,
        requested_by=principal.id,
        policy=policy.model_dump(mode="json"),
    )
    await record(
        conn,
        "maintenance.run_requested",
        actor=principal,
        org_id=scope.org_id,
        org=scope.org_name,
        repo=row.name,
        target=run_id,
        details={"run_id": run_id, "dry_run": dry_run, "trigger": "requested"},
    )
    run = await runs.get_run(conn, row.id, run_id)
    assert run is not None, "the run was inserted in this transaction"
    return runs.to_wire(run, scope.org_name, row.name)


async def org_policy(conn: AsyncConnection, settings: ServerSettings, scope: OrgScope) -> OptimizationConfig:
    """The org's default policy (for the parts its repos leave ``None``)."""
    return loaded(await _org_config(conn, scope))


async def set_org_policy(
    conn: AsyncConnection,
    settings: ServerSettings,
    scope: OrgScope,
    config: OptimizationConfig,
    principal: Principal,
) -> OptimizationConfig:
    """Replace the org's default policy; 422 for a policy the service will not apply."""
    _check(config, settings)
    await _org_config(conn, scope)  # 404 for an org gone meanwhile
    await conn.execute(
        update(orgs).where(orgs.c.id == scope.org_id).values(optimization_config=stored(config))
    )
    await record(
        conn,
        "org.maintenance_policy",
        actor=principal,
        org_id=scope.org_id,
        org=scope.org_name,
        details=policy_summary(config),
    )
    return await org_policy(conn, settings, scope)
