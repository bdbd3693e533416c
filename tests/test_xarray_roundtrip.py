"""An xarray dataset written, committed and read back through ``get_repo``, on local and S3 storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from icechunk.xarray import to_icechunk

from arraylake import Client
from tests.support.service import Org


def sample_dataset() -> xr.Dataset:
    time = pd.date_range("2024-01-01", periods=24, freq="h")
    lat = np.linspace(-90, 90, 19)
    lon = np.linspace(0, 350, 36)
    rng = np.random.default_rng(42)
    return xr.Dataset(
        {
            "temperature": (
                ("time", "lat", "lon"),
                rng.normal(280, 10, (24, 19, 36)).astype("f4"),
                {"units": "K"},
            ),
            "precipitation": (("time", "lat", "lon"), rng.gamma(2, 1, (24, 19, 36))),
        },
        coords={"time": time, "lat": lat, "lon": lon},
        attrs={"title": "round trip"},
    ).chunk({"time": 6})


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_dataset_round_trip(org: Org, storage: str, request: pytest.FixtureRequest) -> None:
    client = Client(org.url, token=org.token)
    bucket_nickname = None
    if storage == "s3":
        seaweed = request.getfixturevalue("seaweed")
        bucket = request.getfixturevalue("s3_bucket")
        client.create_bucket_config(org=org.name, nickname="weather", **seaweed.bucket_config(bucket))
        bucket_nickname = "weather"
    ds = sample_dataset()

    repo = client.create_repo(f"{org.name}/era", bucket_config_nickname=bucket_nickname)
    session = repo.writable_session("main")
    to_icechunk(ds, session)
    first = session.commit("add a day of weather")

    # append along time, as a pipeline would
    more = sample_dataset().assign_coords(time=pd.date_range("2024-01-02", periods=24, freq="h"))
    session = client.get_repo(f"{org.name}/era").writable_session("main")
    to_icechunk(more, session, append_dim="time")
    session.commit("append a second day")

    reopened = client.get_repo(f"{org.name}/era")
    result = xr.open_zarr(reopened.readonly_session("main").store, consolidated=False)
    xr.testing.assert_identical(result.load(), xr.concat([ds, more], dim="time").load())
    assert result.attrs["title"] == "round trip" and result.temperature.attrs["units"] == "K"

    # time travel to the first commit
    old = xr.open_zarr(reopened.readonly_session(snapshot_id=first).store, consolidated=False)
    xr.testing.assert_identical(old.load(), ds.load())
    messages = [s.message for s in reopened.ancestry(branch="main")]
    assert messages[:2] == ["append a second day", "add a day of weather"]
