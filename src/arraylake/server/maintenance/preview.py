"""The dry run: what a maintenance run would expire and reclaim, computed without changing anything.

It reads the history of every branch and tag and applies the rule Icechunk's expiration applies (see
:mod:`arraylake.server.maintenance.engine`), asks Icechunk's garbage collection for a dry run of the
repository as it is, and counts the manifests that only the snapshots to expire reach. Nothing is
written: not even the branches that keep extra roots.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime

import icechunk

from arraylake.server.maintenance.engine import (
    History,
    MaintenanceFailed,
    RepoTarget,
    collect,
    expiration_cutoff,
    expiring,
    extra_roots,
    gc_cutoff,
    measure,
    open_repository,
    per_ref,
    read_history,
)
from arraylake.types.maintenance import EffectiveMaintenance, MaintenanceReport, Reclaimed

MANIFEST_LISTINGS = 16
"""Snapshots whose manifest lists are read at once."""


async def _manifests(
    repository: icechunk.Repository, snapshot_ids: Iterable[str]
) -> dict[str, list[icechunk.ManifestFileInfo]]:
    gate = asyncio.Semaphore(MANIFEST_LISTINGS)

    async def listing(snapshot_id: str) -> tuple[str, list[icechunk.ManifestFileInfo]]:
        async with gate:
            return snapshot_id, await repository.list_manifest_files_async(snapshot_id)

    return dict(await asyncio.gather(*(listing(snapshot_id) for snapshot_id in snapshot_ids)))


async def reclaimable_after_expiration(
    repository: icechunk.Repository, history: History, expired: set[str], gc_before: datetime | None
) -> Reclaimed:
    """The snapshots to expire and the manifests only they reach (count and bytes) that a collection
    with ``gc_before`` would then delete (all of them when ``None``)."""
    if not expired:
        return Reclaimed()
    listings = await _manifests(repository, history.snapshots)
    kept = {m.id for snapshot_id, files in listings.items() if snapshot_id not in expired for m in files}
    first_use: dict[str, datetime] = {}
    size: dict[str, int] = {}
    for snapshot_id in expired:
        written_at = history.snapshots[snapshot_id].written_at
        for manifest in listings[snapshot_id]:
            if manifest.id in kept:
                continue
            size[manifest.id] = manifest.size_bytes
            first_use[manifest.id] = min(written_at, first_use.get(manifest.id, written_at))

    def old_enough(written_at: datetime) -> bool:
        return gc_before is None or written_at < gc_before

    manifests = [m for m, written_at in first_use.items() if old_enough(written_at)]
    return Reclaimed(
        manifests=len(manifests),
        snapshots=sum(old_enough(history.snapshots[s].written_at) for s in expired),
        bytes=sum(size[m] for m in manifests),
    )


async def preview(target: RepoTarget, policy: EffectiveMaintenance, now: datetime) -> MaintenanceReport:
    """What a run of ``policy`` at ``now`` would do, per branch and tag, deleting and changing nothing
    (the expiration rule is that of Icechunk spec version 2; a repo still on version 1 is expired ref by
    ref, and the prediction may differ for snapshots that one ref has as tip and another in its history).

    ``refs`` and ``expired_snapshots``: the snapshots expiration would remove (when enabled);
    ``reclaimed``: a GC dry run of the repository as it is now (when enabled);
    ``reclaimable_after_expiration``: the expired snapshots and the manifests only they reach, which the
    collection after expiration deletes (their chunks are not counted); ``size_bytes``: chunk bytes
    branches and tags reach now. Snapshots no ref reaches (left by a branch reset) are not listed.
    """
    report = MaintenanceReport(dry_run=True)
    repository = await open_repository(target)
    gc_enabled = policy.gc is not None and policy.gc.enabled
    gc_before = gc_cutoff(policy, now) if gc_enabled else None
    try:
        if policy.expiration is not None and policy.expiration.enabled:
            report.expire_before = expiration_cutoff(policy, now)
            history = await read_history(repository, extra_roots(policy))
            expired = expiring(history, report.expire_before)
            report.refs = per_ref(history, expired)
            report.expired_snapshots = len(expired)
            report.reclaimable_after_expiration = await reclaimable_after_expiration(
                repository, history, expired, gc_before
            )
        else:
            report.skipped.append("expiration: not enabled in the policy")
    except icechunk.IcechunkError as exc:
        raise MaintenanceFailed(f"reading the history of repo {target} failed: {exc}") from exc
    if gc_enabled:
        report.gc_before = gc_before
        report.reclaimed = await collect(target, policy, now, dry_run=True)
    else:
        report.skipped.append("garbage collection: not enabled in the policy")
    report.size_bytes = await measure(target)
    return report
