"""Checking a migration: every group and array of each V1 branch tip and tag against the Icechunk copy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from arraylake.repos.v1.migrate import (
    MigrationProgress,
    MigrationReport,
    ProgressCallback,
    RefCheck,
    reader_at,
)
from arraylake.repos.v1.repo import AsyncRepo
from arraylake.repos.v1.store import V1Store

if TYPE_CHECKING:
    import icechunk
    from zarr import AsyncArray, AsyncGroup


def _same(a: Any, b: Any) -> bool:
    """Equal values, NaN equal to NaN where values can be NaN."""
    try:
        return bool(np.array_equal(a, b, equal_nan=True))
    except TypeError:
        return bool(np.array_equal(a, b))


async def _nodes(group: AsyncGroup) -> dict[str, Any]:
    nodes: dict[str, Any] = {"": group}
    async for path, node in group.members(max_depth=None):
        nodes[path] = node
    return nodes


async def _open(store: Any) -> AsyncGroup | None:
    import zarr.api.asynchronous as zarr_async
    from zarr.errors import GroupNotFoundError

    try:
        return await zarr_async.open_group(store=store, mode="r", zarr_format=3)
    except (GroupNotFoundError, FileNotFoundError):
        return None


def _blocks(shape: tuple[int, ...], chunks: tuple[int, ...]) -> list[tuple[slice, ...] | tuple[()]]:
    """Selections that cover an array a few chunk rows at a time, so memory stays bounded."""
    if not shape:
        return [()]
    step = max(1, chunks[0] if chunks else shape[0])
    return [(slice(start, start + step),) for start in range(0, shape[0], step)]


async def _compare_array(path: str, old: AsyncArray[Any], new: AsyncArray[Any], problems: list[str]) -> None:
    described = [
        ("dtype", str(old.dtype), str(new.dtype)),
        ("shape", tuple(old.shape), tuple(new.shape)),
        ("chunks", tuple(old.chunks), tuple(new.chunks)),
        ("attributes", dict(old.attrs), dict(new.attrs)),
    ]
    for what, before, after in described:
        if before != after:
            problems.append(f"/{path}: {what} {before!r} in V1, {after!r} in Icechunk")
    if not _same(np.asarray(old.metadata.fill_value), np.asarray(new.metadata.fill_value)):
        problems.append(
            f"/{path}: fill value {old.metadata.fill_value!r} in V1, {new.metadata.fill_value!r} in Icechunk"
        )
    if tuple(old.shape) != tuple(new.shape):
        return
    for selection in _blocks(tuple(old.shape), tuple(old.chunks)):
        if not _same(await old.getitem(selection), await new.getitem(selection)):
            where = f" at {selection[0].start}:{selection[0].stop}" if selection else ""
            problems.append(f"/{path}: values differ{where}")
            return


async def compare(
    source: AsyncRepo, commit_id: str | None, target: icechunk.Repository, snapshot: str
) -> RefCheck:
    """Every group and array at V1 ``commit_id`` against Icechunk ``snapshot`` (kind and name left blank)."""
    from zarr import AsyncArray

    check = RefCheck(kind="branch", name="", commit_id=commit_id, snapshot_id=snapshot)
    session = await target.readonly_session_async(snapshot_id=snapshot)
    old_root = await _open(V1Store(reader_at(source, commit_id), read_only=True)) if commit_id else None
    new_root = await _open(session.store)
    old = await _nodes(old_root) if old_root is not None else {}
    new = await _nodes(new_root) if new_root is not None else {}
    for path in sorted(old.keys() - new.keys()):
        check.mismatches.append(f"/{path}: missing in Icechunk")
    for path in sorted(new.keys() - old.keys()):
        check.mismatches.append(f"/{path}: not in V1")
    for path in sorted(old.keys() & new.keys()):
        before, after = old[path], new[path]
        if isinstance(before, AsyncArray) != isinstance(after, AsyncArray):
            check.mismatches.append(f"/{path}: an array in one, a group in the other")
        elif isinstance(before, AsyncArray):
            check.arrays += 1
            await _compare_array(path, before, after, check.mismatches)
        else:
            check.groups += 1
            if dict(before.attrs) != dict(after.attrs):
                check.mismatches.append(
                    f"/{path}: attributes {before.attrs!r} in V1, {after.attrs!r} in Icechunk"
                )
    return check


async def verify(
    source: AsyncRepo,
    target: icechunk.Repository,
    report: MigrationReport,
    on_progress: ProgressCallback | None = None,
) -> None:
    """Compare each V1 branch tip and tag with the target's branch or tag of that name, into ``report``."""

    db = source.db
    refs: list[tuple[Any, str, str | None]] = [("branch", b.id, b.commit_id) for b in await db.get_branches()]
    refs += [("tag", t.label, t.commit.id) for t in await db.get_tags()]
    branches, tags = await target.list_branches_async(), await target.list_tags_async()
    seen: dict[tuple[str | None, str], RefCheck] = {}
    for done, (kind, name, commit_id) in enumerate(sorted(refs), start=1):
        if on_progress is not None:
            on_progress(MigrationProgress("verify", done - 1, len(refs), f"{kind} {name}"))
        present = name in (branches if kind == "branch" else tags)
        if not present:
            report.checks.append(
                RefCheck(kind, name, commit_id, None, mismatches=[f"no {kind} {name!r} in Icechunk"])
            )
            continue
        if kind == "branch":
            snapshot = await target.lookup_branch_async(name)
        else:
            snapshot = await target.lookup_tag_async(name)
        found = seen.get((commit_id, snapshot))
        if found is None:
            found = seen[(commit_id, snapshot)] = await compare(source, commit_id, target, snapshot)
        report.checks.append(
            RefCheck(kind, name, commit_id, snapshot, found.arrays, found.groups, list(found.mismatches))
        )
    if on_progress is not None:
        on_progress(MigrationProgress("verify", len(refs), len(refs)))
    report.verified = True
