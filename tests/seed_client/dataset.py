"""The dataset both clients write and compare: deterministic, CF-attributed, numpy/pandas/xarray only.

Imported by the seed-era scenario (in its own venv) and by the test (in the project's venv), so it
must not import ``arraylake``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

CHUNKS = {"tas": (24, 6, 8), "pr": (24, 6, 8)}


def weather(days: int = 2, start: str = "2024-01-01", title: str = "V1 weather") -> xr.Dataset:
    """Hourly air temperature and precipitation on a 6 x 8 grid, ``days`` days from ``start``."""
    time = pd.date_range(start, periods=days * 24, freq="h")
    hours = (time - pd.Timestamp("2024-01-01")) / pd.Timedelta("1h")
    lat = np.linspace(-45.0, 45.0, 6)
    lon = np.linspace(0.0, 315.0, 8)
    grid = np.add.outer(np.asarray(hours, dtype="f8"), np.add.outer(lat, lon / 10.0))
    return xr.Dataset(
        {
            "tas": (
                ("time", "lat", "lon"),
                (280.0 + 10.0 * np.sin(grid / 17.0)).astype("f4"),
                {"units": "K", "standard_name": "air_temperature", "long_name": "Air temperature"},
            ),
            "pr": (
                ("time", "lat", "lon"),
                np.abs(np.cos(grid / 7.0)) * 1e-4,
                {"units": "kg m-2 s-1", "standard_name": "precipitation_flux"},
            ),
        },
        coords={
            "time": ("time", time, {"standard_name": "time", "axis": "T"}),
            "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude", "axis": "Y"}),
            "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude", "axis": "X"}),
        },
        attrs={"Conventions": "CF-1.8", "title": title},
    )


def encoding(ds: xr.Dataset) -> dict[str, dict[str, tuple[int, ...]]]:
    """Chunking through encodings: the seed venv has no dask."""
    return {name: {"chunks": chunks} for name, chunks in CHUNKS.items() if name in ds}
