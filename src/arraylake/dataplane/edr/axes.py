"""The X/Y/Z/T axes of a dataset, found from its CF attributes, and the geometry of its grid."""

from __future__ import annotations

from dataclasses import dataclass

import cf_xarray  # noqa: F401  (registers the ``.cf`` accessor used below)
import numpy as np
import pandas as pd
import xarray as xr
from fastapi import HTTPException

_LONGITUDE_UNITS = {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"}
_DOCTOR_HINT = (
    "`arraylake repo doctor ORG/REPO --fix` can add the missing attributes (e.g. `axis: X` and "
    "`standard_name: longitude` on the longitude coordinate, `axis: Y` and `standard_name: latitude` on the "
    "latitude one)"
)


@dataclass(frozen=True, slots=True)
class GridAxes:
    """Names of the 1-D coordinates that play the X, Y, Z and T roles (Z and T are optional); each is a
    dimension coordinate of the dataset ``on`` returns."""

    x: str
    y: str
    z: str | None
    t: str | None
    x_is_longitude: bool
    swaps: tuple[tuple[str, str], ...] = ()
    """(dimension, coordinate) pairs where the role's coordinate is not its dimension's own (``lon(x)``)."""

    def on(self, ds: xr.Dataset) -> xr.Dataset:
        """``ds`` with the role coordinates as its dimensions."""
        return ds.swap_dims(dict(self.swaps)) if self.swaps else ds

    def role_of(self) -> dict[str, str]:
        """``{dimension name: "x" | "y" | "z" | "t"}``."""
        roles = {self.x: "x", self.y: "y"}
        if self.z is not None:
            roles[self.z] = "z"
        if self.t is not None:
            roles[self.t] = "t"
        return roles


def _first_dimension_coordinate(ds: xr.Dataset, candidates: list[str]) -> str | None:
    """The first 1-D coordinate among ``candidates`` that is, or can become, its dimension's coordinate."""
    for name in candidates:
        if name in ds.coords and ds[name].ndim == 1:
            dim = str(ds[name].dims[0])
            if dim == name or dim not in ds.coords:
                return name
    return None


def _candidates(ds: xr.Dataset, axis: str, coordinate: str) -> list[str]:
    axes = ds.cf.axes
    coordinates = ds.cf.coordinates
    return [*axes.get(axis, []), *coordinates.get(coordinate, [])]


def find_axes(ds: xr.Dataset) -> GridAxes:
    """The grid axes of ``ds``; a 422 naming what is missing when it has no 1-D X and Y coordinates."""
    x_candidates, y_candidates = _candidates(ds, "X", "longitude"), _candidates(ds, "Y", "latitude")
    x = _first_dimension_coordinate(ds, x_candidates)
    y = _first_dimension_coordinate(ds, y_candidates)
    multidimensional = sorted(
        {n for n in (*x_candidates, *y_candidates) if n in ds.coords and ds[n].ndim > 1}
    )
    if (x is None or y is None) and multidimensional:
        raise HTTPException(
            status_code=422,
            detail=f"EDR here queries rectilinear grids (1-D X and Y dimension coordinates); this dataset's "
            f"{', '.join(multidimensional)} are multi-dimensional (a curvilinear grid)",
        )
    if x is None or y is None:
        missing = " and ".join(role for role, name in (("X", x), ("Y", y)) if name is None)
        raise HTTPException(
            status_code=422,
            detail=f"EDR needs the dataset's {missing} axis: no 1-D dimension coordinate has "
            "`axis: X`/`axis: Y`, `standard_name: longitude`/`latitude` or units "
            "`degrees_east`/`degrees_north` "
            f"(coordinates here: {sorted(map(str, ds.coords)) or 'none'}). {_DOCTOR_HINT}.",
        )
    z = _first_dimension_coordinate(ds, _candidates(ds, "Z", "vertical"))
    t = _first_dimension_coordinate(ds, _candidates(ds, "T", "time"))
    if t is not None and not _is_datetime(ds[t]):
        t = None  # times CF could not decode (no units): not a T axis that dates can select on
    swaps = tuple(
        (str(ds[name].dims[0]), name)
        for name in (x, y, z, t)
        if name is not None and ds[name].dims[0] != name
    )
    return GridAxes(x=x, y=y, z=z, t=t, x_is_longitude=_is_longitude(ds, x), swaps=swaps)


def _is_datetime(coordinate: xr.DataArray) -> bool:
    """datetime64, or the cftime dates of non-standard calendars."""
    return np.issubdtype(coordinate.dtype, np.datetime64) or (
        coordinate.dtype == object and coordinate.size > 0 and hasattr(coordinate.values[0], "isoformat")
    )


def _is_longitude(ds: xr.Dataset, name: str) -> bool:
    attrs = ds[name].attrs
    return (
        name in ds.cf.coordinates.get("longitude", [])
        or attrs.get("standard_name") == "longitude"
        or str(attrs.get("units", "")).lower() in _LONGITUDE_UNITS
    )


def step(values: np.ndarray) -> float:
    """The typical spacing of a 1-D coordinate (0 for a single value)."""
    if values.size < 2:
        return 0.0
    return float(np.median(np.abs(np.diff(values.astype("float64")))))


def is_global_longitude(values: np.ndarray) -> bool:
    """Whether the longitudes go all around the globe (so that no query longitude is outside them)."""
    return values.size > 1 and float(np.ptp(values)) + step(values) >= 360 - 1e-6


def shift_to(values: np.ndarray, reference: np.ndarray | float) -> np.ndarray:
    """``values`` moved by whole turns (360) to lie as close as possible to ``reference``."""
    values = values.astype("float64")
    return values + 360.0 * np.round((np.asarray(reference, dtype="float64") - values) / 360.0)


def to_crs84_longitude(value: float) -> float:
    """A longitude in -180..180."""
    return float((value + 180.0) % 360.0 - 180.0) if not -180.0 <= value <= 180.0 else float(value)


def extent(values: np.ndarray) -> tuple[float, float]:
    values = values.astype("float64")
    return float(np.nanmin(values)), float(np.nanmax(values))


def iso_times(values: np.ndarray | pd.Index) -> list[str]:
    """ISO 8601 UTC strings of time values (naive times are taken as UTC)."""
    index = pd.Index(values)
    if isinstance(index, pd.DatetimeIndex):
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        return [t.isoformat() + "Z" for t in index]
    return [f"{v.isoformat()}Z" if hasattr(v, "isoformat") else str(v) for v in index]
