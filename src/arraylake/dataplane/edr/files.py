"""CSV and NetCDF answers of a loaded selection."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from functools import cache
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .select import Selection

CSV_MEDIA_TYPE = "text/csv"
NETCDF_MEDIA_TYPE = "application/x-netcdf"
_INSIDE = "__inside__"
ROWS_PER_BLOCK = 100_000
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"


def csv_text(selection: Selection, rows_per_block: int = ROWS_PER_BLOCK) -> Iterator[bytes]:
    """One row per time step (and level) of each point or cell in the area: columns ``time``, ``x``, ``y``,
    ``z`` (those the data has), then the parameters; times in ISO 8601 UTC."""
    axes, data = selection.axes, selection.data
    if selection.inside is not None:
        data = data.assign({_INSIDE: ((axes.y, axes.x), selection.inside)})
    if not data.sizes:  # one point of fields without time or levels: one row
        data = data.expand_dims(axes.x)
    frame = data.to_dataframe().reset_index()
    if selection.inside is not None:
        frame = frame[frame.pop(_INSIDE).astype(bool)]
    renames = {axes.t: "time", axes.x: "x", axes.y: "y", axes.z: "z"}
    frame = frame.rename(columns={k: v for k, v in renames.items() if k is not None})
    leading = [c for c in ("time", "x", "y", "z") if c in frame]
    return _csv_blocks(
        frame[leading + [str(name) for name in data.data_vars if name != _INSIDE]], rows_per_block
    )


def _csv_blocks(frame: pd.DataFrame, rows_per_block: int) -> Iterator[bytes]:
    for start in range(0, max(len(frame), 1), rows_per_block):
        block = frame.iloc[start : start + rows_per_block]
        yield block.to_csv(index=False, header=start == 0, date_format=ISO_UTC).encode()


@cache
def _netcdf_engine() -> Literal["h5netcdf", "scipy"]:
    # h5netcdf needs h5py (or another HDF5 backend) to write; scipy writes NetCDF 3 with no extra library.
    return "h5netcdf" if importlib.util.find_spec("h5py") is not None else "scipy"


def _netcdf3_compatible(data: xr.Dataset) -> xr.Dataset:
    """NetCDF 3 has no 64-bit or unsigned integers and no booleans: the smallest signed type that holds the
    values, else doubles."""
    for name, var in data.variables.items():
        if var.dtype == bool:
            data[name] = var.astype("int8")
        elif np.issubdtype(var.dtype, np.integer) and var.dtype not in (np.int8, np.int16, np.int32):
            low, high = (int(var.min()), int(var.max())) if var.size else (0, 0)
            fitting = [t for t in ("int16", "int32") if np.iinfo(t).min <= low and high <= np.iinfo(t).max]
            data[name] = var.astype(fitting[0] if fitting else "float64")
    return data


def _attribute(value: Any) -> Any:
    """An attribute value NetCDF can hold: text, numbers, flat lists of numbers; anything else as JSON."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int) and not np.iinfo("int32").min <= value <= np.iinfo("int32").max:
        return float(value)
    if isinstance(value, str | int | float | np.number):
        return value
    if isinstance(value, list | tuple | np.ndarray):
        array = np.asarray(value)
        if array.ndim == 1 and array.size and np.issubdtype(array.dtype, np.number):
            return array if array.dtype.itemsize <= 4 else array.astype("float64")
    return json.dumps(value, default=str)


def netcdf_bytes(selection: Selection) -> Iterator[bytes]:
    """The selection as a NetCDF file, with the source's names and CF attributes."""
    data = selection.data.copy()
    data.attrs = {str(k): _attribute(v) for k, v in data.attrs.items()}
    for var in data.variables.values():
        var.encoding = {}
        var.attrs = {str(k): _attribute(v) for k, v in var.attrs.items()}
    engine = _netcdf_engine()
    if engine == "scipy":
        data = _netcdf3_compatible(data)
    return iter([bytes(data.to_netcdf(engine=engine))])
