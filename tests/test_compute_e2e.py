"""End to end: an org admin enables one service per protocol with ``Client.get_services``, the service runs
them as processes of its own, and clients we did not write read a repo of the org through the deployments'
URLs (the service's proxy in front of each data plane process): OWSLib (WMS), netCDF-C (DAP2), xarray over
fsspec (Zarr), httpx + covjson-pydantic (EDR), PIL (tiles). A public deployment serves anonymous callers; a
private one refuses them."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import netCDF4
import numpy as np
import pytest
import xarray as xr
from covjson_pydantic.coverage import Coverage
from owslib.wms import WebMapService
from PIL import Image

from arraylake import Client
from arraylake.compute import ComputeClient
from arraylake.types.compute import DeploymentInfo, ServiceStatus
from tests.conftest import make_service
from tests.dataplane.frontdoor import Published, publish
from tests.support.service import ArraylakeService

PROTOCOLS = ("edr", "wms", "tiles", "dap2", "zarr")


@pytest.fixture(scope="module")
def running(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArraylakeService]:
    svc = make_service(tmp_path_factory.mktemp("compute-e2e"), "sqlite", request)
    svc.start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def published(running: ArraylakeService) -> Published:
    return publish(running, "weather")


@pytest.fixture(scope="module")
def services(published: Published) -> ComputeClient:
    return Client(published.service.url, token=published.org.token).get_services(published.org.name)


@pytest.fixture(scope="module")
def deployments(services: ComputeClient) -> dict[str, DeploymentInfo]:
    """One private deployment per protocol and a public Zarr one, all started at once, then waited for."""
    for protocol in PROTOCOLS:
        services.enable(protocol, deployment_name=f"e2e-{protocol}", sku_code="xs")
    services.enable("zarr", is_public=True, deployment_name="e2e-open", sku_code="xs")
    names = [f"e2e-{p}" for p in PROTOCOLS] + ["e2e-open"]
    return {name: services.wait_until_ready(name, timeout=240) for name in names}


def data_url(
    deployments: dict[str, DeploymentInfo], name: str, published: Published, ref: str = "main"
) -> str:
    return f"{deployments[name].url}/{published.full_name}/{ref}"


@pytest.fixture(scope="module")
def http(published: Published) -> Iterator[httpx.Client]:
    with httpx.Client(auth=(published.org.name, published.org.token), timeout=120) as client:
        yield client


def test_every_protocol_is_listed_available(
    services: ComputeClient, deployments: dict[str, DeploymentInfo], published: Published
) -> None:
    listed = {d.name: d for d in services.list_enabled()}
    assert set(deployments) <= set(listed)
    for name in deployments:
        assert listed[name].status is ServiceStatus.AVAILABLE
        assert listed[name].ready_replicas >= 1
        assert listed[name].url == f"{published.service.url}/v1/services/{name}"


def test_edr_position_through_the_service(
    deployments: dict[str, DeploymentInfo], published: Published, http: httpx.Client
) -> None:
    url = f"{data_url(deployments, 'e2e-edr', published)}/edr/position"
    response = http.get(url, params={"coords": "POINT(10 45)", "parameter-name": "air"})
    assert response.status_code == 200, response.text
    coverage = Coverage.model_validate_json(response.content)
    expected = published.source.air.sel(lon=10, lat=45, method="nearest").values
    np.testing.assert_allclose(coverage.ranges["air"].values, expected, rtol=1e-6)
    assert response.headers["x-arraylake-snapshot"] == published.snapshot


def test_wms_through_the_service_with_owslib(
    deployments: dict[str, DeploymentInfo], published: Published
) -> None:
    url = f"{data_url(deployments, 'e2e-wms', published)}/wms"
    wms = WebMapService(
        url, version="1.3.0", username=published.org.name, password=published.org.token, timeout=120
    )
    assert "air" in wms.contents
    get_map = wms.getOperationByName("GetMap").methods[0]["url"]
    assert get_map.startswith(url)  # a link OWSLib follows: the public URL, through the service
    image = wms.getmap(
        layers=["air"],
        styles=["raster/default"],
        srs="EPSG:4326",
        bbox=(-90, -180, 90, 180),
        size=(128, 64),
        format="image/png",
        colorscalerange="200,300",
    )
    pixels = np.asarray(Image.open(io.BytesIO(image.read())).convert("RGB"))
    assert pixels.shape == (64, 128, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 5  # a field, not a blank image


def test_tiles_through_the_service(
    deployments: dict[str, DeploymentInfo], published: Published, http: httpx.Client
) -> None:
    url = f"{data_url(deployments, 'e2e-tiles', published)}/tiles/WebMercatorQuad/1/0/0"
    response = http.get(url, params={"variables": "air", "colorscalerange": "200,300"})
    assert response.status_code == 200, response.text
    assert Image.open(io.BytesIO(response.content)).size == (256, 256)


def test_dap2_strided_slice_through_the_service_with_netcdf_c(
    deployments: dict[str, DeploymentInfo], published: Published
) -> None:
    base = data_url(deployments, "e2e-dap2", published).replace(
        "http://", f"http://{published.org.name}:{published.org.token}@"
    )
    with netCDF4.Dataset(f"{base}/opendap") as nc:
        served = nc.variables["air"][1:6:2, ::3, 4:20:5]
    np.testing.assert_array_equal(
        np.ma.filled(served, np.nan), published.source.air.values[1:6:2, ::3, 4:20:5]
    )


def test_zarr_through_the_service_with_xarray(
    deployments: dict[str, DeploymentInfo], published: Published
) -> None:
    url = f"{data_url(deployments, 'e2e-zarr', published, ref=published.tag)}/zarr"
    headers = {"authorization": f"Bearer {published.org.token}"}
    served = xr.open_zarr(url, storage_options={"headers": headers})
    xr.testing.assert_equal(served.air.load(), published.source.air)


def test_snapshot_pinned_caching_through_the_service(
    deployments: dict[str, DeploymentInfo], published: Published, http: httpx.Client
) -> None:
    url = f"{data_url(deployments, 'e2e-edr', published, ref=published.tag)}/edr/position"
    params = {"coords": "POINT(0 0)", "parameter-name": "air"}
    first = http.get(url, params=params)
    assert first.status_code == 200
    assert "immutable" in first.headers["cache-control"]
    again = http.get(url, params=params, headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_a_public_deployment_serves_anonymous_callers_and_a_private_one_does_not(
    deployments: dict[str, DeploymentInfo], published: Published
) -> None:
    with httpx.Client(timeout=60) as anonymous:
        public = anonymous.get(f"{data_url(deployments, 'e2e-open', published)}/zarr/zarr.json")
        assert public.status_code == 200, public.text
        assert "air" in public.text
        private = anonymous.get(f"{data_url(deployments, 'e2e-zarr', published)}/zarr/zarr.json")
        assert private.status_code == 401
        assert private.json()["detail"]


def test_disabled_deployments_stop_serving(
    services: ComputeClient, deployments: dict[str, DeploymentInfo], published: Published, http: httpx.Client
) -> None:
    services.disable("e2e-open")
    assert "e2e-open" not in {d.name for d in services.list_enabled()}
    response = httpx.get(f"{data_url(deployments, 'e2e-open', published)}/zarr/zarr.json", timeout=60)
    assert response.status_code in (404, 503)
    assert response.json()["detail"]
