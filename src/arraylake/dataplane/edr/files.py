"""CSV and NetCDF answers of a loaded selection."""

from __future__ import annotations

import importlib.util
from functools import cache

import numpy as np
import pandas as pd
import xarray as xr

from .axes import iso_times
from .select import Selection

CSV_MEDIA_TYPE = "text/csv"
NETCDF_MEDIA_TYPE = "application/x-netcdf"
_INSIDE = "__inside__"


def csv_text(selection: Selection) -> bytes:
    """One row per time step (and level) of each point or cell in the area: columns ``time``, ``x``, ``y``,
    ``z`` (those the data has), then the parameters; times in ISO 8601 UTC."""
    axes, data = selection.axes, selection.data
    if selection.inside is not None:
        data = data.assign({_INSIDE: ((axes.y, axes.x), selection.inside)})
    frame = data.to_dataframe().reset_index()
    if selection.inside is not None:
        frame = frame[frame.pop(_INSIDE).astype(bool)]
    renames = {axes.t: "time", axes.x: "x", axes.y: "y", axes.z: "z"}
    frame = frame.rename(columns={k: v for k, v in renames.items() if k is not None})
    if "time" in frame and pd.api.types.is_datetime64_any_dtype(frame["time"]):
        frame["time"] = iso_times(frame["time"].to_numpy())
    leading = [c for c in ("time", "x", "y", "z") if c in frame]
    columns = leading + [str(name) for name in data.data_vars if name != _INSIDE]
    return frame[columns].to_csv(index=False).encode()


@cache
def _netcdf_engine() -> str:
    # h5netcdf needs h5py (or another HDF5 backend) to write; scipy writes NetCDF 3 with no extra library.
    return "h5netcdf" if importlib.util.find_spec("h5py") is not None else "scipy"


def _netcdf3_compatible(data: xr.Dataset) -> xr.Dataset:
    """NetCDF 3 has no 64-bit or unsigned integers and no booleans: narrow what fits, else use doubles."""
    for name, var in data.variables.items():
        if var.dtype == bool:
            data[name] = var.astype("int8")
        elif np.issubdtype(var.dtype, np.integer) and var.dtype.itemsize * 8 >= 32 and var.dtype != np.int32:
            fits = var.size == 0 or (
                np.iinfo("int32").min <= var.min() and var.max() <= np.iinfo("int32").max
            )
            data[name] = var.astype("int32" if fits else "float64")
    return data


def netcdf_bytes(selection: Selection) -> bytes:
    """The selection as a NetCDF file, with the source's names and CF attributes."""
    data = selection.data.copy()
    for var in data.variables.values():
        var.encoding = {}
    engine = _netcdf_engine()
    if engine == "scipy":
        data = _netcdf3_compatible(data)
    return bytes(data.to_netcdf(engine=engine))
