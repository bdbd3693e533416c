"""Zarr over HTTP through the front door, read with xarray / zarr-python over fsspec (clients we did not
write): values equal to the source, in the root and a nested group, at a branch, a tag and a snapshot."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import aiohttp
import numpy as np
import pytest
import xarray as xr

from arraylake.types.compute import ServiceType
from tests.dataplane.frontdoor import NESTED_GROUP, Published, data_plane, publish
from tests.support.service import ArraylakeService

pytestmark = pytest.mark.parametrize("service", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def published(service: ArraylakeService) -> Published:
    return publish(service)


@pytest.fixture(scope="module")
def base(published: Published) -> Iterator[str]:
    with data_plane(published, ServiceType.ZARR) as url:
        yield f"{url}/{published.full_name}"


def open_remote(url: str, published: Published) -> xr.Dataset:
    basic = base64.b64encode(f"{published.org.name}:{published.org.token}".encode()).decode()
    return xr.open_zarr(url, storage_options={"headers": {"Authorization": f"Basic {basic}"}})


@pytest.mark.parametrize("ref", ["main", "tag", "snapshot"])
def test_open_zarr_reads_the_source_values(base: str, published: Published, ref: str) -> None:
    name = {"main": "main", "tag": published.tag, "snapshot": published.snapshot}[ref]
    remote = open_remote(f"{base}/{name}/zarr", published)
    assert set(remote.data_vars) == {"air", "wind"}
    xr.testing.assert_identical(remote.load(), published.source)


def test_a_nested_group_and_a_selection(base: str, published: Published) -> None:
    remote = open_remote(f"{base}/main/{NESTED_GROUP}/zarr", published)
    selected = remote["air"].isel(time=slice(1, 4), lat=slice(2, 9, 3)).values
    np.testing.assert_array_equal(
        selected, published.source["air"].isel(time=slice(1, 4), lat=slice(2, 9, 3)).values
    )
    assert remote["air"].attrs["standard_name"] == "air_temperature"


def test_without_credentials_the_store_cannot_be_opened(base: str) -> None:
    with pytest.raises(aiohttp.ClientResponseError) as raised:
        xr.open_zarr(f"{base}/main/zarr")
    assert raised.value.status == 401
