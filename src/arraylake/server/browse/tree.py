"""The group/array tree of a repo at a snapshot, read from Zarr metadata only (plus the two end values of
small coordinate arrays, to give each CF axis its range)."""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import icechunk
import numpy as np
from zarr.api.asynchronous import open_group
from zarr.core.group import AsyncGroup

from arraylake.server.errors import InvalidInput, NotFound, StorageUnavailable

MAX_NODES = 2_000
"""Nodes a tree shows; beyond it the page says how many more there are (counted up to :data:`MAX_COUNTED`)."""
MAX_COUNTED = 20_000
MAX_COORDINATE_SIZE = 10_000
"""A coordinate's range is read only when it has at most this many values (two reads: first and last)."""
MAX_RANGE_READS = 64
MAX_PATH_LENGTH = 1024
NUMERIC_KINDS = "biuf"

_AXES = "XYZT"
_STANDARD_AXES = {
    "latitude": "Y",
    "grid_latitude": "Y",
    "projection_y_coordinate": "Y",
    "longitude": "X",
    "grid_longitude": "X",
    "projection_x_coordinate": "X",
    "time": "T",
    "height": "Z",
    "depth": "Z",
    "altitude": "Z",
    "air_pressure": "Z",
    "atmosphere_sigma_coordinate": "Z",
}
_UNIT_AXES = {
    "degrees_north": "Y",
    "degree_north": "Y",
    "degrees_n": "Y",
    "degreen": "Y",
    "degrees_east": "X",
    "degree_east": "X",
    "degrees_e": "X",
    "degreee": "X",
}
_SINCE = re.compile(r"^\s*(\w+)\s+since\s+(.+?)\s*$", re.IGNORECASE)
_TIME_UNITS = {
    "seconds": 1.0,
    "second": 1.0,
    "s": 1.0,
    "minutes": 60.0,
    "minute": 60.0,
    "min": 60.0,
    "hours": 3600.0,
    "hour": 3600.0,
    "h": 3600.0,
    "days": 86400.0,
    "day": 86400.0,
    "d": 86400.0,
}


@dataclass(frozen=True)
class Axis:
    """A dimension of an array and what its coordinate says about it."""

    dimension: str
    axis: str | None
    """X, Y, Z or T; ``None`` when the coordinate does not say."""
    units: str | None
    first: str | None
    last: str | None
    """The coordinate's end values as text (``None``: not read, e.g. a large coordinate)."""


@dataclass
class ArrayInfo:
    """An array's metadata as a page shows it."""

    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    """The chunk shape (inside a shard, for a sharded array)."""
    shards: tuple[int, ...] | None
    dtype: str
    numeric: bool
    chunk_count: int
    shard_count: int | None
    codecs: list[str]
    fill_value: str
    dimension_names: tuple[str | None, ...] | None
    zarr_format: int
    axes: list[Axis] = field(default_factory=list)

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass
class Node:
    """A group or an array of the tree; ``path`` has no leading slash (``""`` is the root group)."""

    path: str
    kind: str
    """``group`` or ``array``."""
    attributes: dict[str, Any]
    array: ArrayInfo | None = None
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1] or "/"

    @property
    def attributes_json(self) -> str:
        return json.dumps(self.attributes, indent=2, sort_keys=True, default=str, allow_nan=True)


@dataclass
class Tree:
    """A snapshot's tree: the root group with its descendants (at most :data:`MAX_NODES`)."""

    root: Node
    shown: int
    more: int
    """Nodes left out beyond :data:`MAX_NODES` (counted up to :data:`MAX_COUNTED`)."""
    more_is_lower_bound: bool
    by_path: dict[str, Node]

    def find(self, path: str) -> Node | None:
        return self.by_path.get(normalize_path(path))


def normalize_path(path: str | None) -> str:
    """A node path as the tree keys it: no leading or trailing slash; 422 for a malformed one."""
    text = (path or "").strip()
    if len(text) > MAX_PATH_LENGTH or any(ord(c) < 32 for c in text):
        raise InvalidInput("path: give the path of a group or an array, like weather/temperature")
    parts = [part for part in text.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise InvalidInput("path: '.' and '..' are not node names")
    return "/".join(parts)


def _text(value: Any) -> str:
    """A scalar as people read it (NaN as ``NaN``, numpy scalars without their type)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return f"{value:.6g}"
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _codec_text(codec: dict[str, Any]) -> str:
    name = str(codec.get("name") or codec.get("id") or "?")
    config = codec.get("configuration")
    if config is None:
        config = {k: v for k, v in codec.items() if k != "id"}
    if name == "sharding_indexed" and isinstance(config, dict):
        inner = ", ".join(_codec_text(c) for c in config.get("codecs", ()))
        chunk_shape = tuple(config.get("chunk_shape", ()))
        return f"sharding_indexed (inner chunks {chunk_shape}: {inner})"
    if isinstance(config, dict) and config:
        details = ", ".join(f"{k}={v}" for k, v in config.items() if not isinstance(v, dict | list | tuple))
        return f"{name} ({details})" if details else name
    return name


def _codecs(meta: dict[str, Any]) -> list[str]:
    """The codecs of a Zarr v3 array, or the filters and compressor(s) of a v2 one."""
    if meta.get("zarr_format") == 3:
        return [_codec_text(c) for c in meta.get("codecs", ()) if isinstance(c, dict)]
    found = [_codec_text(f) for f in meta.get("filters") or () if isinstance(f, dict)]
    compressors = meta.get("compressors") or meta.get("compressor") or ()
    if isinstance(compressors, dict):
        compressors = [compressors]
    found += [_codec_text(c) for c in compressors if isinstance(c, dict)]
    return found


def _grid_size(shape: tuple[int, ...], chunks: tuple[int, ...]) -> int:
    return math.prod(math.ceil(n / c) if c else 0 for n, c in zip(shape, chunks, strict=False))


def _array_info(array: Any) -> ArrayInfo:
    meta = array.metadata.to_dict()
    shape = tuple(int(n) for n in array.shape)
    chunks = tuple(int(n) for n in array.chunks)
    try:
        dtype = np.dtype(array.dtype)
        dtype_text, numeric = str(dtype), dtype.kind in NUMERIC_KINDS
    except TypeError:
        dtype_text, numeric = str(meta.get("data_type") or meta.get("dtype")), False
    shards = getattr(array, "shards", None)
    shards = tuple(int(n) for n in shards) if shards else None
    names = getattr(array.metadata, "dimension_names", None)
    if names is None:  # Zarr v2: xarray keeps them in an attribute
        dims = array.attrs.get("_ARRAY_DIMENSIONS")
        names = tuple(dims) if isinstance(dims, list) and len(dims) == len(shape) else None
    return ArrayInfo(
        shape=shape,
        chunks=chunks,
        shards=shards,
        dtype=dtype_text,
        numeric=numeric,
        chunk_count=_grid_size(shape, chunks),
        shard_count=_grid_size(shape, shards) if shards else None,
        codecs=_codecs(meta),
        fill_value=_text(array.metadata.fill_value),
        dimension_names=tuple(names) if names is not None else None,
        zarr_format=int(meta.get("zarr_format", 3)),
    )


def axis_of(attributes: dict[str, Any]) -> str | None:
    """The CF axis (X, Y, Z or T) a coordinate's attributes name, if any."""
    axis = str(attributes.get("axis") or "").strip().upper()
    if len(axis) == 1 and axis in _AXES:
        return axis
    standard = str(attributes.get("standard_name") or "").strip().lower()
    if standard in _STANDARD_AXES:
        return _STANDARD_AXES[standard]
    units = str(attributes.get("units") or "").strip()
    if units.lower() in _UNIT_AXES:
        return _UNIT_AXES[units.lower()]
    if _SINCE.match(units):
        return "T"
    if str(attributes.get("positive") or "").lower() in ("up", "down"):
        return "Z"
    return None


def _time_text(value: Any, units: str | None, calendar: str | None) -> str:
    """A CF time value (``days since 2026-01-01``) as a date, in the standard calendar; else as a number."""
    plain = _text(value)
    found = _SINCE.match(units or "")
    if not found or (calendar or "standard").lower() not in ("standard", "gregorian", "proleptic_gregorian"):
        return plain
    step = _TIME_UNITS.get(found.group(1).lower())
    try:
        origin = datetime.fromisoformat(found.group(2).replace(" UTC", "").replace("Z", "").strip())
        number = float(np.asarray(value).item())
    except (ValueError, TypeError):
        return plain
    if step is None or math.isnan(number):
        return plain
    try:
        moment = origin + timedelta(seconds=number * step)
    except OverflowError:
        return plain
    text = moment.date().isoformat() if moment.time() == datetime.min.time() else moment.isoformat(" ")
    return f"{text} ({plain})"


async def _ends(array: Any) -> tuple[Any, Any]:
    size = int(array.shape[0])
    first, last = await asyncio.gather(array.getitem(slice(0, 1)), array.getitem(slice(size - 1, size)))
    return np.asarray(first).ravel()[0], np.asarray(last).ravel()[0]


def _coordinate(nodes: dict[str, Node], path: str, dim: str | None) -> Node | None:
    """The 1-D array named ``dim`` in the group of the array at ``path``: the dimension's coordinate."""
    if not dim:
        return None
    group = path.rsplit("/", 1)[0] if "/" in path else ""
    found = nodes.get(f"{group}/{dim}" if group else dim)
    return found if found is not None and found.array is not None and found.array.ndim == 1 else None


async def _axes(nodes: dict[str, Node], arrays: dict[str, Any]) -> None:
    """Give each array the CF axes of its dimensions, from the 1-D coordinates named after them in its group.

    Ranges are read for at most :data:`MAX_RANGE_READS` coordinates of at most :data:`MAX_COORDINATE_SIZE`
    values each, all at once.
    """
    ranges: dict[str, tuple[str, str]] = {}
    wanted: set[str] = set()
    for path, node in nodes.items():
        for dim in node.array.dimension_names or () if node.array else ():
            coord = _coordinate(nodes, path, dim)
            if coord is None or coord.array is None or coord.path in wanted:
                continue
            small = 0 < coord.array.shape[0] <= MAX_COORDINATE_SIZE
            if small and coord.array.numeric and len(wanted) < MAX_RANGE_READS:
                wanted.add(coord.path)

    async def read(path: str) -> None:
        try:
            first, last = await _ends(arrays[path])
        except Exception:  # a range is a nicety: a chunk that cannot be read leaves it out
            return
        attrs = nodes[path].attributes
        if axis_of(attrs) == "T":
            units, calendar = attrs.get("units"), attrs.get("calendar")
            ranges[path] = (_time_text(first, units, calendar), _time_text(last, units, calendar))
        else:
            ranges[path] = (_text(first), _text(last))

    await asyncio.gather(*(read(path) for path in sorted(wanted)))
    for path, node in nodes.items():
        if node.array is None or not node.array.dimension_names:
            continue
        axes = []
        for dim in node.array.dimension_names:
            coord = _coordinate(nodes, path, dim)
            if coord is None:
                axes.append(Axis(str(dim or "—"), None, None, None, None))
                continue
            units = coord.attributes.get("units")
            ends = ranges.get(coord.path)
            axes.append(
                Axis(
                    str(dim),
                    axis_of(coord.attributes),
                    str(units) if units is not None else None,
                    ends[0] if ends else None,
                    ends[1] if ends else None,
                )
            )
        node.array.axes = axes


async def read_tree(session: icechunk.Session) -> Tree:
    """The tree of the session's snapshot: metadata of at most :data:`MAX_NODES` nodes, sorted by path.

    An empty snapshot (no root group yet) is an empty root. 502 when storage fails.
    """
    try:
        root_group: AsyncGroup = await open_group(store=session.store, mode="r")
    except FileNotFoundError:
        root = Node("", "group", {})
        return Tree(root, 0, 0, False, {"": root})
    except icechunk.IcechunkError as exc:
        raise StorageUnavailable("could not read the repo's root group from storage") from exc
    nodes: dict[str, Node] = {"": Node("", "group", dict(root_group.attrs))}
    arrays: dict[str, Any] = {}
    more = 0
    try:
        async for name, member in root_group.members(max_depth=None):
            if len(nodes) > MAX_NODES:
                more += 1
                if more + MAX_NODES >= MAX_COUNTED:
                    break
                continue
            path = normalize_path(name)
            if isinstance(member, AsyncGroup):
                nodes[path] = Node(path, "group", dict(member.attrs))
            else:
                nodes[path] = Node(path, "array", dict(member.attrs), _array_info(member))
                arrays[path] = member
    except icechunk.IcechunkError as exc:
        raise StorageUnavailable("could not read the repo's metadata from storage") from exc
    await _axes(nodes, arrays)
    for path in sorted(nodes):
        if path:
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            owner = nodes.get(parent)
            if owner is not None:
                owner.children.append(nodes[path])
    for node in nodes.values():
        node.children.sort(key=lambda child: (child.kind != "group", child.path))
    return Tree(nodes[""], len(nodes) - 1, more, more + MAX_NODES >= MAX_COUNTED, nodes)


def node_or_404(tree: Tree, path: str | None) -> Node | None:
    """The node at ``path`` (``None`` for no path); 404 naming a path the tree does not hold."""
    wanted = normalize_path(path)
    if not wanted:
        return None
    node = tree.find(wanted)
    if node is None:
        beyond = f" (among the first {MAX_NODES} nodes shown)" if tree.more else ""
        raise NotFound(f"no group or array at /{wanted} in this snapshot{beyond}")
    return node
