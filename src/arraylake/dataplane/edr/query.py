"""The parameters of an EDR query, parsed and checked against the dataset: every bad value is a 422 that
says what was expected."""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import pandas as pd
import shapely
import shapely.wkt
import xarray as xr
from fastapi import HTTPException
from shapely.geometry.base import BaseGeometry

from .axes import GridAxes, iso_times

Indexer = slice | list[int]


class OutputFormat(StrEnum):
    COVJSON = "cf_covjson"
    CSV = "csv"
    NETCDF = "netcdf"


FORMAT_NAMES: dict[str, OutputFormat] = {
    "cf_covjson": OutputFormat.COVJSON,
    "covjson": OutputFormat.COVJSON,
    "coveragejson": OutputFormat.COVJSON,
    "json": OutputFormat.COVJSON,
    "csv": OutputFormat.CSV,
    "nc": OutputFormat.NETCDF,
    "netcdf": OutputFormat.NETCDF,
    "netcdf4": OutputFormat.NETCDF,
}


def bad(detail: str) -> HTTPException:
    return HTTPException(status_code=422, detail=detail)


def output_format(f: str | None) -> OutputFormat:
    if f is None or f == "":
        return OutputFormat.COVJSON
    try:
        return FORMAT_NAMES[f.lower()]
    except KeyError:
        raise bad(
            f"unknown output format f={f!r}; this service answers f={', '.join(FORMAT_NAMES)}"
        ) from None


POSITION_EXAMPLE = "POINT(10.5 45.2)"
AREA_EXAMPLE = "POLYGON((0 0,10 0,10 10,0 10,0 0))"
CRS84_NAMES = {"crs84", "ogc:crs84", "http://www.opengis.net/def/crs/ogc/1.3/crs84", "[ogc:crs84]"}


def check_crs(crs: str | None) -> None:
    """Coordinates are CRS84 (longitude, latitude), the one CRS this service answers in."""
    if crs and crs.strip().lower() not in CRS84_NAMES:
        raise bad(f"crs={crs!r} is not supported; coords are CRS84 longitude/latitude (crs=CRS84)")


def geometry(coords: str | None, kinds: tuple[str, ...], example: str) -> BaseGeometry:
    """The WKT geometry of ``coords``, one of the shapely geometry ``kinds`` (e.g. "Point", "MultiPoint")."""
    expected = " or ".join(k.upper() for k in kinds)
    if not coords:
        raise bad(f"coords is required: a WKT {expected}, e.g. coords={example}")
    try:
        geom = shapely.wkt.loads(coords)
    except Exception:  # shapely raises its own GEOSException, or ValueError, depending on the flaw
        raise bad(
            f"coords={coords!r} is not valid WKT; expected a {expected}, e.g. coords={example}"
        ) from None
    if geom.geom_type not in kinds:
        raise bad(f"coords is a {geom.geom_type.upper()}; expected a {expected}, e.g. coords={example}")
    if geom.is_empty:
        raise bad(f"coords is an empty {geom.geom_type.upper()}; expected at least one coordinate")
    if not geom.is_valid:
        raise bad(f"coords is not a valid {geom.geom_type.upper()}: {shapely.is_valid_reason(geom)}")
    return geom


def queryable_parameters(ds: xr.Dataset, axes: GridAxes) -> list[str]:
    """Numeric data variables on the X and Y dimensions whose other dimensions are only Z and T, by name
    (the order a store lists them in may vary)."""
    allowed = set(axes.role_of())
    return sorted(
        str(name)
        for name, var in ds.data_vars.items()
        if {axes.x, axes.y} <= set(var.dims)
        and set(var.dims) <= allowed
        and (np.issubdtype(var.dtype, np.number) or var.dtype == bool)
    )


def parameters(ds: xr.Dataset, axes: GridAxes, names: str | None) -> list[str]:
    """The requested parameters (default: all queryable ones), each checked to exist."""
    available = queryable_parameters(ds, axes)
    if not available:
        raise bad(f"this dataset has no numeric variable on its {axes.x} and {axes.y} dimensions to query")
    if not names:
        return available
    requested = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in requested if n not in available]
    if unknown or not requested:
        raise bad(
            f"unknown parameter-name {', '.join(unknown) or repr(names)}; "
            f"available parameters: {', '.join(available)}"
        )
    return list(dict.fromkeys(requested))


def _timestamp(text: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise bad(
            f"datetime {text!r} is not an ISO 8601 date-time; expected e.g. 2024-01-01T06:00:00Z, "
            "an interval start/end, or .. for an open end"
        ) from None
    if ts is pd.NaT:
        raise bad(f"datetime {text!r} is not a date-time")
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def time_indexer(ds: xr.Dataset, axes: GridAxes, datetime: str | None) -> Indexer | None:
    """The time steps selected by ``datetime`` (an instant: the nearest step; ``start/end``: the steps
    between, ``..`` for an open end); None for all of them or when there is no T axis."""
    if not datetime:
        return None
    if axes.t is None:
        raise bad("datetime was given but this dataset has no time (T) axis")
    index = ds.indexes[axes.t]
    if not isinstance(index, pd.DatetimeIndex):
        raise bad(
            f"the time axis {axes.t!r} is not a standard-calendar datetime; datetime cannot select on it"
        )
    first, last = index.min(), index.max()
    span = "/".join(iso_times(pd.DatetimeIndex([first, last])))
    parts = datetime.split("/")
    if len(parts) == 1:
        instant = _timestamp(parts[0])
        if not first <= instant <= last:
            raise bad(f"datetime {datetime} is outside the data's time range {span}")
        return [int(np.argmin(np.abs((index - instant).values)))]
    if len(parts) != 2:
        raise bad(f"datetime {datetime!r} is not an instant or an interval start/end")
    start = None if parts[0] in ("..", "") else _timestamp(parts[0])
    end = None if parts[1] in ("..", "") else _timestamp(parts[1])
    if start is not None and end is not None and start > end:
        raise bad(f"datetime {datetime}: the start is after the end")
    inside = np.ones(len(index), dtype=bool)
    if start is not None:
        inside &= np.asarray(index >= start)
    if end is not None:
        inside &= np.asarray(index <= end)
    return _indexer(inside, f"datetime {datetime} selects no time step; the data's time range is {span}")


def z_indexer(ds: xr.Dataset, axes: GridAxes, z: str | None) -> Indexer | None:
    """The levels selected by ``z``: a level (the nearest one), ``a,b,...`` levels, or an interval ``a/b``."""
    if not z:
        return None
    if axes.z is None:
        raise bad("z was given but this dataset has no vertical (Z) axis")
    levels = ds[axes.z].values.astype("float64")
    low, high = float(np.min(levels)), float(np.max(levels))
    span = f"{low:g} to {high:g}"
    try:
        if "/" in z:
            a, b = (float(v) for v in z.split("/"))
            lo, hi = min(a, b), max(a, b)
            return _indexer((levels >= lo) & (levels <= hi), f"z={z} selects no level; the levels go {span}")
        wanted = [float(v) for v in z.split(",")]
    except ValueError:
        raise bad(f"z={z!r} is not a level, a list of levels a,b or an interval a/b") from None
    outside = [w for w in wanted if not low <= w <= high]
    if outside:
        raise bad(f"z={', '.join(f'{w:g}' for w in outside)} is outside the data's levels, {span}")
    return [int(np.argmin(np.abs(levels - w))) for w in wanted]


def as_indexer(indices: np.ndarray) -> Indexer:
    """A slice when ``indices`` are consecutive and ascending (cheaper for Dask), else the list."""
    if indices.size and np.all(np.diff(indices) == 1):
        return slice(int(indices[0]), int(indices[-1]) + 1)
    return indices.tolist()


def _indexer(mask: np.ndarray, empty: str) -> Indexer:
    (positions,) = np.nonzero(mask)
    if positions.size == 0:
        raise bad(empty)
    return as_indexer(positions)
