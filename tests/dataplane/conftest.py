"""Fixtures of the data plane tests: a CF dataset committed to a real Icechunk repo, and a real HTTP server
on 127.0.0.1 for an ASGI app (a protocol plugin under xpublish, or the whole data plane)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import icechunk
import numpy as np
import pandas as pd
import pytest
import uvicorn
import xarray as xr

pytest.importorskip("xpublish", reason="the compute extra is not installed (make setup installs it)")


def cf_dataset(nt: int = 6, ny: int = 18, nx: int = 36, *, seed: int = 0) -> xr.Dataset:
    """A small CF-compliant dataset: ``air`` and ``wind`` (float32) on time x lat x lon, lat descending as
    many reanalyses store it, with CF axis/standard_name attributes and a fill value."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2024-01-01", periods=nt, freq="6h")
    lat = np.linspace(85.0, -85.0, ny)
    lon = np.linspace(-175.0, 175.0, nx)
    base = 250 + 40 * np.cos(np.deg2rad(lat))[None, :, None] + 0.1 * np.arange(nt)[:, None, None]
    air = (base + rng.normal(0, 1, (nt, ny, nx))).astype("float32")
    wind = rng.uniform(0, 20, (nt, ny, nx)).astype("float32")
    ds = xr.Dataset(
        {
            "air": (
                ("time", "lat", "lon"),
                air,
                {"units": "K", "standard_name": "air_temperature", "long_name": "Air temperature"},
            ),
            "wind": (("time", "lat", "lon"), wind, {"units": "m s-1", "standard_name": "wind_speed"}),
        },
        coords={
            "time": ("time", time, {"axis": "T", "standard_name": "time"}),
            "lat": ("lat", lat, {"axis": "Y", "standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"axis": "X", "standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={"title": "synthetic test data", "Conventions": "CF-1.8"},
    )
    ds["air"].encoding = {"chunks": (2, ny, nx), "_FillValue": np.float32(-9999.0)}
    ds["wind"].encoding = {"chunks": (2, ny, nx)}
    return ds


def commit_dataset(
    path: Path, ds: xr.Dataset, *, group: str | None = None
) -> tuple[icechunk.Repository, str]:
    """Write ``ds`` to a new local Icechunk repo at ``path`` (in ``group``) and commit; return the repo and
    the snapshot id."""
    repo = icechunk.Repository.open_or_create(icechunk.local_filesystem_storage(str(path)))
    session = repo.writable_session("main")
    ds.to_zarr(session.store, group=group, mode="w", consolidated=False, zarr_format=3)
    return repo, session.commit("test data")


def open_snapshot(repo: icechunk.Repository, snapshot: str, group: str | None = None) -> xr.Dataset:
    """The dataset of one snapshot, opened as the data plane opens it (lazily, Dask chunks = Zarr chunks)."""
    store = repo.readonly_session(snapshot_id=snapshot).store
    return xr.open_zarr(store, group=group, consolidated=False, chunks={})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def committed(tmp_path_factory: pytest.TempPathFactory) -> tuple[icechunk.Repository, str, xr.Dataset]:
    """The CF dataset committed to a local Icechunk repo: (repo, snapshot id, the source dataset)."""
    ds = cf_dataset()
    repo, snapshot = commit_dataset(tmp_path_factory.mktemp("repo") / "repo", ds)
    return repo, snapshot, ds
