"""What a maintenance run does to a repo's Icechunk repository: expire old snapshots, collect garbage,
measure what stays.

Semantics (Icechunk spec version 2, which every repo this service creates uses):

- **Expiration** only rewrites history. A snapshot leaves it when it was written before the cutoff, is not
  the tip of a branch or tag and is not the repository's first (root) snapshot; the oldest snapshot kept
  in each history is re-parented onto the root. Branches and tags are never deleted, whatever they point
  at. Nothing is deleted from storage: the snapshots that left are garbage for the next collection.
- **Garbage collection** deletes objects (chunks, manifests, snapshots, transaction logs) that no branch or
  tag reaches any more AND that are older than the policy's safety margin. A writer whose session started
  less than the margin ago never loses the chunks it has written but not yet committed; reads and commits
  on branches keep working while a collection runs.
- **Extra roots** (``gc.extra_gc_roots``) stay reachable as if a branch pointed at them: one does, a
  branch named ``arraylake.keep.<snapshot id>``, created before expiring or collecting and deleted once the
  root leaves the policy. Only branches with that prefix are ever created or deleted here.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import icechunk

from arraylake.server.logs import get_logger
from arraylake.storage import apply_bucket_flags, icechunk_storage
from arraylake.types import AnyCredentials, BucketResponse
from arraylake.types.maintenance import (
    EffectiveMaintenance,
    ExpiredSnapshot,
    Reclaimed,
    RefExpiration,
)

log = get_logger("arraylake.server.maintenance")

KEEP_PREFIX = "arraylake.keep."
"""Branches that keep an extra GC root reachable; the only branches maintenance creates or deletes."""


class MaintenanceFailed(Exception):
    """A step of maintenance could not be done on a repo's storage (the message says which and why)."""


@dataclass(frozen=True)
class RepoTarget:
    """The repo a run works on: where its Icechunk repository is, and the credentials the service vended
    to itself for it (``None`` for local directories and anonymous access)."""

    org: str
    name: str
    bucket: BucketResponse
    prefix: str
    credentials: AnyCredentials | None

    def __str__(self) -> str:
        return f"{self.org}/{self.name}"


async def open_repository(target: RepoTarget) -> icechunk.Repository:
    """The target's Icechunk repository, opened with the service's credentials."""
    storage = icechunk_storage(
        target.bucket, target.prefix, target.credentials, scatter_initial_credentials=False
    )
    try:
        return await icechunk.Repository.open_async(storage, config=apply_bucket_flags(target.bucket, None))
    except icechunk.IcechunkError as exc:
        raise MaintenanceFailed(f"could not open repo {target} in its bucket: {exc}") from exc


# ----------------------------------------------------------------------------------------------- history


@dataclass(frozen=True)
class Snapshot:
    id: str
    parent_id: str | None
    written_at: datetime
    message: str


@dataclass(frozen=True)
class RefHistory:
    ref: str
    kind: Literal["branch", "tag"]
    tip: str
    ancestry: list[str]
    """Snapshot ids from the tip to the root."""


@dataclass
class History:
    """Every branch's and tag's ancestry, each snapshot read once."""

    refs: list[RefHistory] = field(default_factory=list)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)

    def tips(self) -> set[str]:
        return {ref.tip for ref in self.refs}


async def _ancestry(repository: icechunk.Repository, tip: str, known: dict[str, Snapshot]) -> list[str]:
    ids: list[str] = []
    current: str | None = tip
    if current not in known:
        async with aclosing(repository.async_ancestry(snapshot_id=tip)) as ancestry:
            async for info in ancestry:
                if info.id in known:
                    current = info.id
                    break
                known[info.id] = Snapshot(info.id, info.parent_id, info.written_at, info.message)
                ids.append(info.id)
            else:
                return ids
    while current is not None:  # the rest of this history was walked from another ref
        ids.append(current)
        current = known[current].parent_id
    return ids


async def read_history(repository: icechunk.Repository, extra_roots: Iterable[str] = ()) -> History:
    """The ancestry of every branch and tag (tags first, then branches, each by name) as a run sees it
    once :func:`keep_extra_roots` has run: each extra root that exists has its ``arraylake.keep.`` branch,
    and the keep branches of roots that left the policy are gone."""
    history = History()
    roots = set(extra_roots)
    keep = {KEEP_PREFIX + root for root in roots}
    tags = sorted(await repository.list_tags_async())
    branches = sorted(
        branch
        for branch in await repository.list_branches_async()
        if not branch.startswith(KEEP_PREFIX) or branch in keep
    )
    refs: list[tuple[str, Literal["branch", "tag"], str]] = []
    for tag in tags:
        refs.append((tag, "tag", await repository.lookup_tag_async(tag)))
    for branch in branches:
        refs.append((branch, "branch", await repository.lookup_branch_async(branch)))
    for root in sorted(roots):
        name = KEEP_PREFIX + root
        if name not in branches and await _snapshot_exists(repository, root):
            refs.append((name, "branch", root))
    for name, kind, tip in refs:
        history.refs.append(RefHistory(name, kind, tip, await _ancestry(repository, tip, history.snapshots)))
    return history


async def _snapshot_exists(repository: icechunk.Repository, snapshot_id: str) -> bool:
    try:
        await repository.lookup_snapshot_async(snapshot_id)
    except icechunk.IcechunkError:
        return False
    return True


def expiring(history: History, cutoff: datetime) -> set[str]:
    """The snapshots expiration with this cutoff removes: written before it (exclusive), not a tip, not a
    root. Icechunk applies this rule to the whole repository at once, so a snapshot that several refs
    share leaves only when no ref has it as its tip."""
    tips = history.tips()
    return {
        snapshot.id
        for snapshot in history.snapshots.values()
        if snapshot.written_at < cutoff and snapshot.parent_id is not None and snapshot.id not in tips
    }


def per_ref(history: History, expired: set[str]) -> list[RefExpiration]:
    """For each ref (extra roots as their ``arraylake.keep.`` branch), the snapshots of its history in
    ``expired``, newest first, and how many stay."""
    details = []
    for ref in history.refs:
        gone = [history.snapshots[snapshot_id] for snapshot_id in ref.ancestry if snapshot_id in expired]
        details.append(
            RefExpiration(
                ref=ref.ref,
                kind=ref.kind,
                tip=ref.tip,
                expired=[ExpiredSnapshot(id=s.id, written_at=s.written_at, message=s.message) for s in gone],
                kept=len(ref.ancestry) - len(gone),
            )
        )
    return details


def expiration_cutoff(policy: EffectiveMaintenance, now: datetime) -> datetime:
    """Snapshots written before this leave the history."""
    if policy.expiration is None:
        raise ValueError("the policy sets no expiration")
    return now.astimezone(UTC) - policy.expiration.expire_versions_older_than


def gc_cutoff(policy: EffectiveMaintenance, now: datetime) -> datetime:
    """Unreachable objects written before this are deleted."""
    return now.astimezone(UTC) - policy.gc_margin


def extra_roots(policy: EffectiveMaintenance) -> set[str]:
    return set(policy.gc.extra_gc_roots) if policy.gc is not None else set()


# ---------------------------------------------------------------------------------------------- the steps


async def keep_extra_roots(repository: icechunk.Repository, roots: set[str]) -> list[str]:
    """Make the ``arraylake.keep.`` branches match ``roots``: create the missing ones, delete those whose
    root left the policy. Returns the roots that no longer exist (nothing can keep them)."""
    branches = {b for b in await repository.list_branches_async() if b.startswith(KEEP_PREFIX)}
    missing = []
    for root in sorted(roots):
        if KEEP_PREFIX + root in branches:
            continue
        try:
            await repository.create_branch_async(KEEP_PREFIX + root, root)
        except icechunk.IcechunkError as exc:
            log.warning("extra GC root not found", snapshot=root, error=str(exc))
            missing.append(root)
    for branch in sorted(branches - {KEEP_PREFIX + root for root in roots}):
        await repository.delete_branch_async(branch)
    return missing


async def expire(
    target: RepoTarget, policy: EffectiveMaintenance, now: datetime
) -> tuple[list[RefExpiration], int]:
    """Expire the snapshots written before ``now`` minus the policy's ``expire_versions_older_than``,
    keeping every branch and tag (and their tips) and the extra roots. Returns, per ref, the snapshots
    that left its history, and how many left in all (ValueError when the policy sets no expiration)."""
    cutoff = expiration_cutoff(policy, now)
    repository = await open_repository(target)
    try:
        roots = extra_roots(policy)
        await keep_extra_roots(repository, roots)
        history = await read_history(repository, roots)
        released = await repository.expire_snapshots_async(
            cutoff, delete_expired_branches=False, delete_expired_tags=False
        )
    except icechunk.IcechunkError as exc:
        raise MaintenanceFailed(f"expiring snapshots of repo {target} failed: {exc}") from exc
    log.info("snapshots expired", repo=str(target), expired=len(released), before=cutoff.isoformat())
    return per_ref(history, set(released)), len(released)


def reclaimed(summary: icechunk.GCSummary) -> Reclaimed:
    return Reclaimed(
        chunks=summary.chunks_deleted,
        manifests=summary.manifests_deleted,
        snapshots=summary.snapshots_deleted,
        transaction_logs=summary.transaction_logs_deleted,
        attributes=summary.attributes_deleted,
        bytes=summary.bytes_deleted,
        failed_deletes=summary.objects_failed_to_delete,
    )


async def collect(
    target: RepoTarget, policy: EffectiveMaintenance, now: datetime, *, dry_run: bool = False
) -> Reclaimed:
    """Delete the objects no branch, tag or extra root reaches that are older than ``now`` minus the
    policy's GC margin (with ``dry_run``, count them and change nothing, not even the extra roots'
    branches). Objects a writer has written in the last ``gc_margin`` are never deleted."""
    repository = await open_repository(target)
    try:
        if not dry_run:
            await keep_extra_roots(repository, extra_roots(policy))
        summary = await repository.garbage_collect_async(gc_cutoff(policy, now), dry_run=dry_run)
    except icechunk.IcechunkError as exc:
        raise MaintenanceFailed(f"collecting garbage of repo {target} failed: {exc}") from exc
    result = reclaimed(summary)
    log.info(
        "garbage collected", repo=str(target), dry_run=dry_run, objects=result.objects, bytes=result.bytes
    )
    return result


async def measure(target: RepoTarget) -> int:
    """Bytes of the chunks stored in the repo (native and inline, not virtual) that branches and tags
    reach."""
    repository = await open_repository(target)
    try:
        stats = await repository.chunk_storage_stats_async()
    except icechunk.IcechunkError as exc:
        raise MaintenanceFailed(f"measuring repo {target} failed: {exc}") from exc
    return int(stats.non_virtual_bytes())
