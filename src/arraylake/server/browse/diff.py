"""Comparing two snapshots of a repo: what was added, deleted, moved or changed, and where chunks changed.

:func:`compare` finds how the two snapshots relate (one is an ancestor of the other, in either order, or
both descend from a common ancestor), asks Icechunk for the diff of each line, reads the changed nodes'
Zarr metadata on both sides to say *what* changed, and turns each array's changed chunks into a
:class:`ChunkHeat`: a 2-D map of its chunk grid, small enough to draw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import icechunk
import zarr.api.asynchronous as zarr_async

from arraylake.server.browse.opening import ResolvedRef, session_at
from arraylake.server.errors import InvalidInput

MAX_SIDE = 200
"""A heat map has at most this many cells a side; larger chunk grids are drawn in blocks of chunks."""
MAX_MAPS = 12
"""At most this many maps per array (one per leading index of an N-D array, those with changes)."""
MAX_ANCESTRY = 2000
"""How far back the ancestry of each side is walked to relate the two snapshots."""
MAX_NODES = 100
"""At most this many nodes per diff have their metadata read (changed metadata, chunk grids)."""
MAX_VALUE = 300
"""Metadata values longer than this (as JSON) are cut."""

METADATA_FIELDS = {
    "shape": "shape",
    "chunk_grid": "chunks",
    "data_type": "dtype",
    "fill_value": "fill value",
    "codecs": "codecs",
    "dimension_names": "dimension names",
    "chunk_key_encoding": "chunk key encoding",
    "storage_transformers": "storage transformers",
    "node_type": "node type",
}


# ------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class FieldChange:
    """One attribute or metadata field that differs; ``old``/``new`` as JSON, ``None`` when absent."""

    key: str
    old: str | None
    new: str | None

    @property
    def kind(self) -> str:
        if self.old is None:
            return "added"
        if self.new is None:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class NodeChange:
    """A group or array whose Zarr metadata changed: its attributes and its other fields."""

    path: str
    kind: str
    attributes: list[FieldChange] = field(default_factory=list)
    metadata: list[FieldChange] = field(default_factory=list)
    note: str | None = None
    """Why the change could not be shown (a side could not be read, or too many nodes changed)."""


@dataclass(frozen=True)
class Cell:
    """A changed cell of a heat map (a chunk, or a block of chunks when downsampled)."""

    row: int
    col: int
    title: str


@dataclass(frozen=True)
class HeatMap:
    """One 2-D map: the chunks of one leading index (``None``: all leading indices collapsed)."""

    leading: tuple[int, ...] | None
    changed: int
    """Chunks changed in this map (before collapsing and downsampling)."""
    cells: list[Cell]

    @property
    def key(self) -> str:
        return "all" if self.leading is None else "-".join(str(i) for i in self.leading)


@dataclass(frozen=True)
class ChunkHeat:
    """Where an array's chunks changed, on its chunk grid (at the newer side) drawn as 2-D maps.

    An N-D array's grid is collapsed to its last two dimensions: one map per leading index that has
    changes (at most :data:`MAX_MAPS`, ``more_maps`` tells how many were left out) and, when several
    leading indices changed, one map of them all. ``block`` is how many chunks (rows, columns) one cell
    covers: ``(1, 1)`` unless the grid is larger than :data:`MAX_SIDE` cells a side.
    """

    path: str
    grid: tuple[int, ...]
    grid_known: bool
    """False when the array's metadata could not be read: the grid is then guessed from the chunks."""
    rows: int
    cols: int
    block: tuple[int, int]
    total_chunks: int
    changed_count: int
    maps: list[HeatMap]
    more_maps: int
    overall: HeatMap | None
    leading_counts: list[tuple[tuple[int, ...], int]]
    changed_chunks: list[tuple[int, ...]]
    """The changed chunks themselves, first ones only (at most :data:`MAX_SIDE`)."""

    @property
    def map_rows(self) -> int:
        return max(1, math.ceil(self.rows / self.block[0]))

    @property
    def map_cols(self) -> int:
        return max(1, math.ceil(self.cols / self.block[1]))

    @property
    def downsampled(self) -> bool:
        return self.block != (1, 1)

    @property
    def percent(self) -> float:
        return 100.0 * self.changed_count / self.total_chunks if self.total_chunks else 0.0


@dataclass(frozen=True)
class SnapshotDiff:
    """The changes from snapshot ``from_id`` to its descendant ``to_id``."""

    from_id: str
    to_id: str
    new_groups: list[str] = field(default_factory=list)
    new_arrays: list[str] = field(default_factory=list)
    deleted_groups: list[str] = field(default_factory=list)
    deleted_arrays: list[str] = field(default_factory=list)
    updated_groups: list[NodeChange] = field(default_factory=list)
    updated_arrays: list[NodeChange] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[ChunkHeat] = field(default_factory=list)
    chunks_left_out: int = 0
    """Arrays with changed chunks whose heat map was not made (beyond :data:`MAX_NODES`)."""

    @property
    def empty(self) -> bool:
        return not (
            self.new_groups
            or self.new_arrays
            or self.deleted_groups
            or self.deleted_arrays
            or self.updated_groups
            or self.updated_arrays
            or self.moved
            or self.chunks
            or self.chunks_left_out
        )


@dataclass(frozen=True)
class Comparison:
    """Two refs compared: ``base`` is the older side and ``target`` the newer one (``swapped`` when the
    refs were given newest first). On different lines of history, ``common_ancestor`` is set and
    ``diffs`` holds each side's changes since it (base's line first); otherwise one diff."""

    base: ResolvedRef
    target: ResolvedRef
    swapped: bool
    common_ancestor: str | None
    diffs: list[SnapshotDiff]

    @property
    def same(self) -> bool:
        return self.base.snapshot_id == self.target.snapshot_id


# ------------------------------------------------------------------------------------------- heat maps


def chunk_grid(shape: Sequence[int], chunk_shape: Sequence[int]) -> tuple[int, ...]:
    """The number of chunks along each dimension."""
    return tuple(math.ceil(size / max(1, chunk)) for size, chunk in zip(shape, chunk_shape, strict=True))


def _label(coords: Sequence[int | str]) -> str:
    return "(" + ", ".join(str(c) for c in coords) + ")"


def _span(start: int, size: int, limit: int) -> str:
    end = min(start + size, limit) - 1
    return str(start) if end <= start else f"{start}-{end}"


def chunk_heat(
    path: str,
    grid: Sequence[int] | None,
    coords: Iterable[Sequence[int]],
    *,
    max_side: int = MAX_SIDE,
    max_maps: int = MAX_MAPS,
) -> ChunkHeat:
    """The heat map of an array's changed chunks ``coords`` on its chunk ``grid``.

    ``grid`` ``None`` (or of another rank than the chunks) is guessed from the chunks themselves;
    chunks outside the grid are left out.
    """
    points = [tuple(int(i) for i in c) for c in coords]
    known = grid is not None and all(len(p) == len(grid) for p in points)
    if not known:
        rank = len(points[0]) if points else 0
        grid = tuple(max((p[d] for p in points if len(p) == rank), default=0) + 1 for d in range(rank))
    grid = tuple(int(n) for n in grid or ())
    points = sorted(
        {p for p in points if len(p) == len(grid) and all(0 <= i < n for i, n in zip(p, grid, strict=True))}
    )
    if len(grid) >= 2:
        rows, cols = grid[-2], grid[-1]
    else:
        rows, cols = 1, grid[0] if grid else 1
    block = (max(1, math.ceil(rows / max_side)), max(1, math.ceil(cols / max_side)))

    def place(p: tuple[int, ...]) -> tuple[int, int]:
        if len(p) >= 2:
            return p[-2] // block[0], p[-1] // block[1]
        return 0, (p[0] if p else 0) // block[1]

    def title(lead: Sequence[int | str], r: int, c: int) -> str:
        if block == (1, 1):
            tail: list[int | str] = [r, c] if len(grid) >= 2 else ([c] if grid else [])
            return f"chunk {_label([*lead, *tail])}"
        spans: list[int | str] = [_span(r * block[0], block[0], rows)] if len(grid) >= 2 else []
        spans.append(_span(c * block[1], block[1], cols))
        return f"chunks {_label([*lead, *spans])}"

    def heat(lead: tuple[int, ...] | None, members: list[tuple[int, ...]]) -> HeatMap:
        placed = sorted({place(p) for p in members})
        shown: list[int | str] = list(lead) if lead is not None else ["*"] * (len(grid) - 2)
        return HeatMap(lead, len(members), [Cell(r, c, title(shown, r, c)) for r, c in placed])

    by_lead: dict[tuple[int, ...], list[tuple[int, ...]]] = {}
    for p in points:
        by_lead.setdefault(p[:-2] if len(p) > 2 else (), []).append(p)
    leads = sorted(by_lead)
    if len(grid) > 2:
        maps = [heat(lead, by_lead[lead]) for lead in leads[:max_maps]]
        overall = heat(None, points) if len(leads) > 1 else None
    else:
        maps = [heat(None, points)]
        overall = None
    return ChunkHeat(
        path=path,
        grid=grid,
        grid_known=known,
        rows=rows,
        cols=cols,
        block=block,
        total_chunks=math.prod(grid),
        changed_count=len(points),
        maps=maps,
        more_maps=max(0, len(leads) - max_maps) if len(grid) > 2 else 0,
        overall=overall,
        leading_counts=[(lead, len(by_lead[lead])) for lead in leads] if len(grid) > 2 else [],
        changed_chunks=points[:max_side],
    )


# ------------------------------------------------------------------------------------------- metadata


def _json(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    """The keys whose values differ between two mappings (added, removed or changed), by key."""
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        if key in old and key in new and _json(old[key]) == _json(new[key]):
            continue
        changes.append(
            FieldChange(
                str(key), _json(old[key]) if key in old else None, _json(new[key]) if key in new else None
            )
        )
    return changes


async def _metadata(session: icechunk.Session, path: str, kind: str) -> dict[str, Any]:
    where = path.strip("/")
    opener = zarr_async.open_array if kind == "array" else zarr_async.open_group
    node = await opener(store=session.store, path=where, mode="r")
    return dict(node.metadata.to_dict())


async def _node_change(
    before: icechunk.Session, after: icechunk.Session, old_path: str, path: str, kind: str
) -> NodeChange:
    try:
        old = await _metadata(before, old_path, kind)
    except Exception:  # the node may be of another kind there, or unreadable
        try:
            old = await _metadata(before, old_path, "group" if kind == "array" else "array")
        except Exception:
            return NodeChange(path, kind, note="its metadata before could not be read")
    try:
        new = await _metadata(after, path, kind)
    except Exception:
        return NodeChange(path, kind, note="its metadata after could not be read")
    attributes = field_changes(old.get("attributes") or {}, new.get("attributes") or {})
    rest = field_changes(
        {METADATA_FIELDS[k]: v for k, v in old.items() if k in METADATA_FIELDS},
        {METADATA_FIELDS[k]: v for k, v in new.items() if k in METADATA_FIELDS},
    )
    return NodeChange(path, kind, attributes, rest)


async def _grid(session: icechunk.Session, path: str) -> tuple[int, ...] | None:
    try:
        meta = await _metadata(session, path, "array")
        chunk_shape = meta["chunk_grid"]["configuration"]["chunk_shape"]
        return chunk_grid(meta["shape"], chunk_shape)
    except Exception:  # an irregular or unreadable grid is guessed from the chunks
        return None


def _path_before(path: str, moved: list[tuple[str, str]]) -> str:
    """Where a node of the newer side was in the older one, undoing the moves (last first)."""
    for source, target in reversed(moved):
        if path == target or path.startswith(target.rstrip("/") + "/"):
            path = source + path[len(target) :]
    return path


# ------------------------------------------------------------------------------------------- diffing


async def diff_snapshots(repository: icechunk.Repository, from_id: str, to_id: str) -> SnapshotDiff:
    """What changed from snapshot ``from_id`` to its descendant ``to_id`` (the same one: nothing)."""
    if from_id == to_id:
        return SnapshotDiff(from_id, to_id)
    try:
        diff = await repository.diff_async(from_snapshot_id=from_id, to_snapshot_id=to_id)
    except icechunk.IcechunkError as exc:
        raise InvalidInput(f"snapshots {from_id} and {to_id} could not be compared") from exc
    before = await session_at(repository, ResolvedRef(from_id, "snapshot", from_id))
    after = await session_at(repository, ResolvedRef(to_id, "snapshot", to_id))
    moved = [(str(a), str(b)) for a, b in diff.moved_nodes]
    budget = MAX_NODES
    updated: dict[str, list[NodeChange]] = {"group": [], "array": []}
    for kind, paths in (("group", diff.updated_groups), ("array", diff.updated_arrays)):
        for path in sorted(paths):
            if budget <= 0:
                updated[kind].append(NodeChange(path, kind, note="not compared: too many nodes changed"))
                continue
            budget -= 1
            updated[kind].append(await _node_change(before, after, _path_before(path, moved), path, kind))
    heats = []
    chunk_paths = sorted(diff.updated_chunks)
    for path in chunk_paths[: max(0, budget)]:
        heats.append(chunk_heat(path, await _grid(after, path), diff.updated_chunks[path]))
    return SnapshotDiff(
        from_id=from_id,
        to_id=to_id,
        new_groups=sorted(diff.new_groups),
        new_arrays=sorted(diff.new_arrays),
        deleted_groups=sorted(diff.deleted_groups),
        deleted_arrays=sorted(diff.deleted_arrays),
        updated_groups=updated["group"],
        updated_arrays=updated["array"],
        moved=moved,
        chunks=heats,
        chunks_left_out=len(chunk_paths) - len(heats),
    )


async def _walk(
    repository: icechunk.Repository, snapshot_id: str, stop_at: set[str]
) -> tuple[list[str], str | None]:
    """The ancestry of a snapshot (itself first, at most :data:`MAX_ANCESTRY`) up to the first snapshot
    in ``stop_at``, and that snapshot (``None`` if not met)."""
    line: list[str] = []
    found = None
    ancestry = repository.async_ancestry(snapshot_id=snapshot_id)
    try:
        async for info in ancestry:
            if info.id in stop_at:
                found = info.id
                break
            line.append(info.id)
            if len(line) >= MAX_ANCESTRY:
                break
    except icechunk.IcechunkError as exc:
        raise InvalidInput(f"the history of snapshot {snapshot_id} could not be read") from exc
    finally:
        await ancestry.aclose()
    return line, found


async def parent_of(repository: icechunk.Repository, ref: ResolvedRef) -> ResolvedRef:
    """The snapshot before ``ref``'s (``ref`` itself for a repo's first snapshot)."""
    try:
        info = await repository.lookup_snapshot_async(ref.snapshot_id)
    except icechunk.IcechunkError as exc:
        raise InvalidInput(f"snapshot {ref.snapshot_id} could not be read") from exc
    if info.parent_id is None:
        return ref
    return ResolvedRef(info.parent_id, "snapshot", info.parent_id)


async def compare(repository: icechunk.Repository, old: ResolvedRef, new: ResolvedRef) -> Comparison:
    """The changes from ``old`` to ``new``: swapped when ``new`` is the older one, each side's changes
    since their common ancestor when they are on different lines of history; 422 when no common
    ancestor is found within :data:`MAX_ANCESTRY` snapshots."""
    if old.snapshot_id == new.snapshot_id:
        return Comparison(old, new, False, None, [SnapshotDiff(old.snapshot_id, new.snapshot_id)])
    new_line, found = await _walk(repository, new.snapshot_id, {old.snapshot_id})
    if found is not None:
        diff = await diff_snapshots(repository, old.snapshot_id, new.snapshot_id)
        return Comparison(old, new, False, None, [diff])
    _old_line, met = await _walk(repository, old.snapshot_id, set(new_line))
    if met == new.snapshot_id:
        diff = await diff_snapshots(repository, new.snapshot_id, old.snapshot_id)
        return Comparison(new, old, True, None, [diff])
    if met is None:
        raise InvalidInput(
            f"{old.name} and {new.name} share no snapshot within the last {MAX_ANCESTRY:,} snapshots of "
            "each: they cannot be compared"
        )
    diffs = [
        await diff_snapshots(repository, met, old.snapshot_id),
        await diff_snapshots(repository, met, new.snapshot_id),
    ]
    return Comparison(old, new, False, met, diffs)
