"""Reading a look at an array: which arrays there are, a bounded (decimated) 2-D slice or 1-D series of one,
its statistics, and the way back from a pixel of the drawn image to the array's indices.

Plain functions over zarr's async API and numpy, so that they can be tested without the service.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from zarr.core.array import AsyncArray
from zarr.core.group import AsyncGroup

from arraylake.server.errors import InvalidInput, NotFound

MAX_BYTES = 4 * 1024 * 1024
"""At most this many bytes of an array's values are read for one image or series."""
MAX_SIDE = 1024
"""At most this many values along each axis of an image."""
MAX_POINTS = 10_000
"""At most this many points in a series."""
MAX_NODES = 2_000
"""At most this many nodes of a repo's tree are listed."""
DISPLAY_SIDE = 720
"""An image is drawn with its longer side scaled up (by a whole factor) towards this many pixels."""

MIN_SIDE = 120
"""... and a side with few values stretched to at least this many pixels."""

AnyArray = AsyncArray[Any]


def drawable(dtype: np.dtype[Any]) -> bool:
    """Whether values of ``dtype`` can be drawn: numbers, and booleans as 0/1."""
    return dtype.kind in "biuf"


@dataclass(frozen=True)
class ArrayEntry:
    """An array of a repo's tree, as the list to choose from shows it."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    drawable: bool


async def open_root(store: Any) -> AsyncGroup:
    """The root group of a store (Icechunk keeps no consolidated metadata)."""
    return await AsyncGroup.open(store, zarr_format=3, use_consolidated=False)


async def list_arrays(store: Any, limit: int = MAX_NODES) -> tuple[list[ArrayEntry], bool]:
    """The arrays of a store, by path, and whether the walk stopped at ``limit`` nodes."""
    root = await open_root(store)
    found: list[ArrayEntry] = []
    seen = 0
    async for path, node in root.members(max_depth=None, use_consolidated_for_children=False):
        seen += 1
        if seen > limit:
            return sorted(found, key=lambda e: e.path), True
        if isinstance(node, AsyncArray):
            dtype = numpy_dtype(node)
            ok = dtype is not None and drawable(dtype)
            found.append(ArrayEntry(path, tuple(node.shape), str(dtype or node.dtype), ok))
    return sorted(found, key=lambda e: e.path), False


def clean_path(path: str) -> str:
    """A node path as given in a URL, normalized; 422 when it is not a path inside the repo."""
    parts = [part for part in path.strip().split("/") if part]
    if not parts or len(path) > 1024 or any(p in (".", "..") or any(ord(c) < 32 for c in p) for p in parts):
        raise InvalidInput("path: give the path of an array, e.g. weather/temperature")
    return "/".join(parts)


async def open_array(store: Any, path: str) -> AnyArray:
    """The array at ``path``; 404 when there is none, 422 when it is a group."""
    path = clean_path(path)
    root = await open_root(store)
    try:
        node = await root.getitem(path)
    except (KeyError, FileNotFoundError) as exc:
        raise NotFound(f"no array at {path!r} in this ref") from exc
    if not isinstance(node, AsyncArray):
        raise InvalidInput(f"{path!r} is a group: choose one of its arrays")
    return node


def numpy_dtype(array: AnyArray) -> np.dtype[Any] | None:
    try:
        return np.dtype(array.dtype)
    except TypeError:
        return None


def dimension_names(array: AnyArray) -> list[str]:
    """The names of the array's dimensions (``dim_0``, ... where it has none)."""
    names = getattr(array.metadata, "dimension_names", None) or ()
    return [str(names[i]) if i < len(names) and names[i] else f"dim_{i}" for i in range(len(array.shape))]


def array_chunks(array: AnyArray) -> tuple[int, ...]:
    """The array's chunk shape (the shard's inner chunks are not what is read: shards are)."""
    return tuple(int(c) for c in array.chunks)


# ------------------------------------------------------------------------------------------------ plans


@dataclass(frozen=True)
class Plan:
    """What to read of an array: a selection (an index per fixed dimension, a strided slice per shown one),
    and how the values read become the picture (``axes`` the shown dimensions, vertical first)."""

    selection: tuple[int | slice, ...]
    axes: tuple[int, ...]
    """The shown dimensions: (vertical, horizontal) for an image, (along,) for a series."""
    strides: tuple[int, ...]
    """The stride on each shown dimension, in the order of ``axes``."""
    counts: tuple[int, ...]
    """How many values are read along each shown dimension, in the order of ``axes``."""
    itemsize: int
    chunks_touched: int

    @property
    def values(self) -> int:
        return math.prod(self.counts)

    @property
    def nbytes(self) -> int:
        return self.values * self.itemsize

    @property
    def stride(self) -> int:
        """The largest stride (1 when everything is shown)."""
        return max(self.strides, default=1)


def _touched(length: int, chunk: int, stride: int) -> int:
    """How many chunks of a dimension a strided slice over all of it touches."""
    if length == 0:
        return 0
    if stride <= chunk:  # every chunk holds at least one point
        return math.ceil(length / chunk)
    return math.ceil(length / stride)


def _plan(
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    itemsize: int,
    axes: tuple[int, ...],
    fixed: dict[int, int],
    strides: tuple[int, ...],
) -> Plan:
    selection: list[int | slice] = []
    touched = 1
    for dim, length in enumerate(shape):
        if dim in axes:
            stride = strides[axes.index(dim)]
            selection.append(slice(None, None, stride))
            touched *= _touched(length, chunks[dim], stride)
        else:
            selection.append(fixed.get(dim, 0))
    counts = tuple(math.ceil(shape[a] / s) for a, s in zip(axes, strides, strict=True))
    return Plan(tuple(selection), axes, strides, counts, itemsize, touched)


def _check_fixed(shape: tuple[int, ...], names: list[str], fixed: dict[int, int]) -> None:
    for dim, index in fixed.items():
        if not 0 <= index < shape[dim]:
            raise InvalidInput(
                f"{names[dim]}: index {index} is out of range: give 0 to {shape[dim] - 1}"
                if shape[dim]
                else f"{names[dim]}: the dimension is empty"
            )


def plan_image(
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    itemsize: int,
    names: list[str],
    vertical: int,
    horizontal: int,
    fixed: dict[int, int],
    *,
    max_bytes: int = MAX_BYTES,
    max_side: int = MAX_SIDE,
) -> Plan:
    """A 2-D slice of an array (``vertical`` x ``horizontal``, the other dimensions at ``fixed`` indices),
    decimated by a stride on each image axis so that it is at most ``max_side`` values a side and
    ``max_bytes`` in all; 422 for an index out of range."""
    if vertical == horizontal:
        raise InvalidInput("choose two different dimensions for the horizontal and vertical axes")
    _check_fixed(shape, names, {d: i for d, i in fixed.items() if d not in (vertical, horizontal)})
    ny, nx = shape[vertical], shape[horizontal]
    sy, sx = max(1, math.ceil(ny / max_side)), max(1, math.ceil(nx / max_side))
    budget = max(1, max_bytes // max(1, itemsize))
    while math.ceil(ny / sy) * math.ceil(nx / sx) > budget:
        # thin the axis that keeps more values, so that the picture stays as square as the data
        if math.ceil(ny / sy) >= math.ceil(nx / sx):
            sy += 1
        else:
            sx += 1
    return _plan(shape, chunks, itemsize, (vertical, horizontal), fixed, (sy, sx))


def plan_series(
    shape: tuple[int, ...],
    chunks: tuple[int, ...],
    itemsize: int,
    names: list[str],
    along: int,
    fixed: dict[int, int],
    *,
    max_bytes: int = MAX_BYTES,
    max_points: int = MAX_POINTS,
) -> Plan:
    """A 1-D series of an array along ``along``, the other dimensions at ``fixed`` indices, decimated to at
    most ``max_points`` points and ``max_bytes``; 422 for an index out of range."""
    _check_fixed(shape, names, {d: i for d, i in fixed.items() if d != along})
    limit = max(1, min(max_points, max_bytes // max(1, itemsize)))
    stride = max(1, math.ceil(shape[along] / limit))
    return _plan(shape, chunks, itemsize, (along,), fixed, (stride,))


async def read_plan(array: AnyArray, plan: Plan) -> np.ndarray:
    """The values of ``plan``, with the shown dimensions in the plan's order (vertical first)."""
    data = np.asarray(await array.getitem(plan.selection))
    if len(plan.axes) == 2 and plan.axes[0] > plan.axes[1]:
        data = data.T  # the array keeps the horizontal dimension first
    return data


# ------------------------------------------------------------------------------------------ the values


def as_float(data: np.ndarray, missing: list[float] | None = None) -> np.ndarray:
    """Values as floats for drawing and statistics, with NaN where a value is missing (NaN or one of
    ``missing``: the ``_FillValue``/``missing_value`` attributes)."""
    values = data.astype("float64")
    for value in missing or ():
        values[values == value] = np.nan
    return values


def missing_values(attributes: dict[str, Any]) -> list[float]:
    """The values that mean "no data" by the CF attributes."""
    found: list[float] = []
    for key in ("_FillValue", "missing_value"):
        raw = attributes.get(key)
        for value in raw if isinstance(raw, list) else [raw]:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
                found.append(float(value))
    return found


@dataclass(frozen=True)
class Stats:
    """The minimum, mean and maximum of the values that are there (``None`` when none is)."""

    minimum: float | None
    mean: float | None
    maximum: float | None
    valid: int
    missing: int


def stats(values: np.ndarray) -> Stats:
    """Statistics of float values, ignoring NaN."""
    valid = np.isfinite(values)
    count = int(valid.sum())
    if count == 0:
        return Stats(None, None, None, 0, int(values.size))
    shown = values[valid]
    return Stats(float(shown.min()), float(shown.mean()), float(shown.max()), count, int(values.size) - count)


# ------------------------------------------------------------------------------- pixels and indices


@dataclass(frozen=True)
class Geometry:
    """How an image of ``rows`` x ``cols`` values is drawn: each value a ``xscale`` x ``yscale`` pixel
    rectangle, the first row at the bottom when ``origin_lower`` (as maps are drawn when latitude grows)."""

    rows: int
    cols: int
    yscale: int
    xscale: int
    origin_lower: bool

    @property
    def width(self) -> int:
        return self.cols * self.xscale

    @property
    def height(self) -> int:
        return self.rows * self.yscale


def geometry(
    rows: int, cols: int, origin_lower: bool, display: int = DISPLAY_SIDE, least: int = MIN_SIDE
) -> Geometry:
    """The drawing of ``rows`` x ``cols`` values: scaled up by a whole factor towards ``display`` pixels
    (square values), and a narrow side stretched to at least ``least`` pixels so that it can be seen."""
    scale = max(1, display // max(1, rows, cols))
    yscale = max(scale, math.ceil(least / max(1, rows)))
    xscale = max(scale, math.ceil(least / max(1, cols)))
    return Geometry(rows, cols, yscale, xscale, origin_lower)


def pixel_to_index(geo: Geometry, plan: Plan, px: int, py: int) -> tuple[int, int]:
    """The (vertical, horizontal) array indices of the value drawn at pixel (``px``, ``py``) of the image
    (from its top left corner); proportional, so that it holds for any whole scaling of the image."""
    if geo.width <= 0 or geo.height <= 0:
        raise InvalidInput("the image is empty: there is no point to look at")
    col = min(geo.cols - 1, max(0, int(px * geo.cols / geo.width)))
    row = min(geo.rows - 1, max(0, int(py * geo.rows / geo.height)))
    if geo.origin_lower:
        row = geo.rows - 1 - row
    sy, sx = plan.strides
    return row * sy, col * sx


def index_to_pixel(geo: Geometry, plan: Plan, iy: int, ix: int) -> tuple[int, int]:
    """The centre pixel (x, y) of the square that draws the value at (``iy``, ``ix``) (which must be one of
    the values read)."""
    sy, sx = plan.strides
    row, col = iy // sy, ix // sx
    if geo.origin_lower:
        row = geo.rows - 1 - row
    return col * geo.xscale + geo.xscale // 2, row * geo.yscale + geo.yscale // 2


# ------------------------------------------------------------------------------------------ coordinates


@dataclass
class Coordinates:
    """The 1-D coordinate arrays of an array's dimensions that its group holds (by dimension index)."""

    arrays: dict[int, AnyArray] = field(default_factory=dict)

    async def value(self, dim: int, index: int) -> Any | None:
        """The coordinate value at ``index`` of dimension ``dim``, or ``None`` when it has none."""
        found = self.arrays.get(dim)
        if found is None:
            return None
        return _plain(np.asarray(await found.getitem((index,))).item())

    async def along(self, dim: int, stride: int) -> np.ndarray | None:
        """The coordinate values along ``dim`` at every ``stride``-th index (bounded like the data)."""
        found = self.arrays.get(dim)
        if found is None:
            return None
        return np.asarray(await found.getitem((slice(None, None, stride),)))

    async def increasing(self, dim: int) -> bool:
        """Whether the coordinate of ``dim`` grows along it (``False`` when it has none or one value)."""
        found = self.arrays.get(dim)
        if found is None or found.shape[0] < 2:
            return False
        first = np.asarray(await found.getitem((0,))).item()
        last = np.asarray(await found.getitem((found.shape[0] - 1,))).item()
        try:
            return bool(last > first)
        except TypeError:
            return False

    def units(self, dim: int) -> str | None:
        found = self.arrays.get(dim)
        units = found.attrs.get("units") if found is not None else None
        return str(units) if units else None


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


async def coordinates(store: Any, path: str, array: AnyArray, names: list[str]) -> Coordinates:
    """The coordinates of ``array``: arrays of its group named after its dimensions, 1-D, of the same
    length, with that dimension name."""
    group_path = path.rpartition("/")[0]
    root = await open_root(store)
    found = Coordinates()
    for dim, name in enumerate(names):
        if name == path.rpartition("/")[2] or "/" in name or name.startswith("."):
            continue
        try:
            node = await root.getitem(f"{group_path}/{name}" if group_path else name)
        except (KeyError, FileNotFoundError):
            continue
        if (
            isinstance(node, AsyncArray)
            and node.shape == (array.shape[dim],)
            and dimension_names(node) in ([name], ["dim_0"])
        ):
            found.arrays[dim] = node
    return found
