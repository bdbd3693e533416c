"""What a position or an area query selects from the dataset: lazily first (so that its size can be
checked before anything is read), then computed, reading only the chunks the selection touches.

Positions answer the nearest grid point. Areas answer the cells whose centres fall in (or on the edge of) the
polygon, over the polygon's bounding rows and columns, cells outside it null. Longitudes are answered in the
convention of the query (-180..180 or 0..360), whatever the dataset stores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import xarray as xr
from shapely.geometry import MultiPoint, Point
from shapely.geometry.base import BaseGeometry

from .axes import GridAxes, extent, is_global_longitude, shift_to, step
from .query import Indexer, OutputFormat, as_indexer, bad

POINT_DIM = "point"
CSV_BYTES_PER_ROW = 48
"""About what a CSV row's time and coordinates take (``2024-01-01T00:00:00Z,5.0,45.0,`` to
``2024-01-01T00:00:00Z,-99.97214484679666,39.79888268156425,``), before its values."""


@dataclass(frozen=True, slots=True)
class Selection:
    """The selected variables (source names and attributes; the X coordinate in the query's convention)."""

    data: xr.Dataset
    axes: GridAxes
    multipoint: bool = False
    inside: np.ndarray | None = None
    """Areas: a (Y, X) mask of the cells whose centres are in the polygon."""

    @property
    def is_area(self) -> bool:
        return self.inside is not None


def _extent_text(ds: xr.Dataset, axes: GridAxes) -> str:
    (x0, x1), (y0, y1) = extent(ds[axes.x].values), extent(ds[axes.y].values)
    return f"{axes.x} {x0:g} to {x1:g}, {axes.y} {y0:g} to {y1:g}"


def _nearest(values: np.ndarray, value: float) -> int | None:
    """Index of the grid value nearest ``value``, None when ``value`` is beyond half a cell from the grid."""
    half = step(values) / 2
    low, high = extent(values)
    if not low - half - 1e-9 <= value <= high + half + 1e-9:
        return None
    index = pd.Index(values)
    if index.is_monotonic_increasing or index.is_monotonic_decreasing:
        return int(index.get_indexer([value], method="nearest")[0])
    return int(np.argmin(np.abs(values - value)))


def _nearest_longitude(values: np.ndarray, value: float) -> int | None:
    """Like ``_nearest`` (and with xarray's choice on ties), whichever convention ``value`` and the grid use,
    and across the seam of a global grid."""
    distance = np.abs((values.astype("float64") - value + 180.0) % 360.0 - 180.0)
    closest = int(np.argmin(distance))
    if not (is_global_longitude(values) or distance[closest] <= step(values) / 2 + 1e-9):
        return None
    low, high = extent(values)
    in_frame = float(shift_to(np.array([value]), (low + high) / 2)[0])
    i = _nearest(values, min(max(in_frame, low), high))
    return closest if i is None or distance[closest] < distance[i] else i


def _time_and_levels(data: xr.Dataset, axes: GridAxes, t: Indexer | None, z: Indexer | None) -> xr.Dataset:
    indexers = {}
    if t is not None and axes.t is not None:
        indexers[axes.t] = t
    if z is not None and axes.z is not None:
        indexers[axes.z] = z
    return data.isel(indexers) if indexers else data


def _source(ds: xr.Dataset, params: list[str]) -> xr.Dataset:
    """The parameters with only their dimension coordinates, without the plugin host's attributes."""
    source = ds[params].reset_coords(drop=True)
    source.attrs = {k: v for k, v in ds.attrs.items() if not str(k).startswith("_xpublish")}
    return source


def select_position(
    ds: xr.Dataset,
    axes: GridAxes,
    geom: BaseGeometry,
    params: list[str],
    t: Indexer | None,
    z: Indexer | None,
) -> Selection:
    """The nearest grid point of each point of a POINT or MULTIPOINT (lazy)."""
    points: list[Point] = list(geom.geoms) if isinstance(geom, MultiPoint) else [geom]
    xs, ys = ds[axes.x].values, ds[axes.y].values
    ix: list[int] = []
    iy: list[int] = []
    for point in points:
        i = _nearest_longitude(xs, point.x) if axes.x_is_longitude else _nearest(xs, point.x)
        j = _nearest(ys, point.y)
        if i is None or j is None:
            raise bad(
                f"POINT({point.x:g} {point.y:g}) is outside the data's extent: {_extent_text(ds, axes)}"
            )
        ix.append(i)
        iy.append(j)
    x_out = xs[ix].astype("float64")
    if axes.x_is_longitude:
        x_out = shift_to(x_out, np.array([p.x for p in points]))
    x_attrs = ds[axes.x].attrs
    source = _source(ds, params)
    if isinstance(geom, MultiPoint):
        data = source.isel(
            {axes.x: xr.DataArray(ix, dims=POINT_DIM), axes.y: xr.DataArray(iy, dims=POINT_DIM)}
        ).assign_coords({axes.x: (POINT_DIM, x_out, x_attrs)})
    else:
        data = source.isel({axes.x: ix[0], axes.y: iy[0]}).assign_coords({axes.x: ((), x_out[0], x_attrs)})
    return Selection(_time_and_levels(data, axes, t, z), axes, multipoint=isinstance(geom, MultiPoint))


def select_area(
    ds: xr.Dataset,
    axes: GridAxes,
    geom: BaseGeometry,
    params: list[str],
    t: Indexer | None,
    z: Indexer | None,
) -> Selection:
    """The cells of a POLYGON or MULTIPOLYGON (lazy): its bounding rows and columns and the mask of the
    cells whose centres it covers."""
    minx, miny, maxx, maxy = geom.bounds
    xs, ys = ds[axes.x].values, ds[axes.y].values
    x_frame = shift_to(xs, (minx + maxx) / 2) if axes.x_is_longitude else xs.astype("float64")
    columns = np.nonzero((x_frame >= minx) & (x_frame <= maxx))[0]
    columns = columns[np.argsort(x_frame[columns], kind="stable")]
    rows = np.nonzero((ys >= miny) & (ys <= maxy))[0]
    grid_x, grid_y = np.meshgrid(x_frame[columns], ys[rows])
    inside = shapely.intersects_xy(geom, grid_x, grid_y)
    if not inside.any():
        if not (_overlaps(x_frame, minx, maxx) and _overlaps(ys, miny, maxy)):
            raise bad(
                f"the polygon (bounds {minx:g} {miny:g}, {maxx:g} {maxy:g}) is outside the data's extent: "
                f"{_extent_text(ds, axes)}"
            )
        raise bad(
            f"no grid cell centre falls in the polygon (bounds {minx:g} {miny:g}, {maxx:g} {maxy:g}); the "
            f"grid spacing is about {step(xs):g} in {axes.x} and {step(ys):g} in {axes.y}"
        )
    keep_rows, keep_columns = inside.any(axis=1), inside.any(axis=0)
    rows, columns, inside = rows[keep_rows], columns[keep_columns], inside[keep_rows][:, keep_columns]
    data = _source(ds, params).isel({axes.y: as_indexer(rows), axes.x: as_indexer(columns)})
    data = data.assign_coords({axes.x: (axes.x, x_frame[columns], ds[axes.x].attrs)})
    return Selection(_time_and_levels(data, axes, t, z), axes, inside=inside)


def _overlaps(values: np.ndarray, low: float, high: float) -> bool:
    """Whether ``low..high`` meets the cells (centres +- half a step) of a 1-D coordinate."""
    half = step(values) / 2
    first, last = extent(values)
    return low <= last + half and high >= first - half


def _text_bytes(dtype: np.dtype) -> int:
    """About what one value takes as text with its separator: float32 is written in its shortest form (9
    digits at most), 64-bit numbers take up to 17."""
    return 11 if dtype.itemsize <= 4 else 20


NETCDF_HEADER_BYTES = 16 * 1024
"""What a NetCDF-4 (HDF5) file takes besides its values: superblock, object headers, B-trees."""


def estimated_bytes(selection: Selection, fmt: OutputFormat) -> int:
    """About how many bytes the answer will take, from the lazy selection's shape (nothing is read)."""
    variables = list(selection.data.data_vars.values())
    if fmt is OutputFormat.CSV:
        rows = math.prod(selection.data.sizes.values())
        if selection.inside is not None:  # CSV lists the cells in the polygon only
            rows = math.ceil(rows * float(selection.inside.mean()))
        return rows * (CSV_BYTES_PER_ROW + sum(_text_bytes(var.dtype) for var in variables))
    if fmt is OutputFormat.COVJSON:
        return sum(var.size * _text_bytes(var.dtype) for var in variables)
    total = NETCDF_HEADER_BYTES
    for var in variables:
        masked_integers = selection.is_area and not np.issubdtype(var.dtype, np.floating)  # become float64
        total += var.size * (8 if masked_integers else max(var.dtype.itemsize, 1))
    return total


def load(selection: Selection) -> Selection:
    """Read the selection (only the chunks it touches, on Dask) and null the cells outside an area."""
    data = selection.data.compute()
    if selection.inside is not None:
        mask = xr.DataArray(selection.inside, dims=(selection.axes.y, selection.axes.x))
        data = data.where(mask)
    return Selection(data, selection.axes, selection.multipoint, selection.inside)
