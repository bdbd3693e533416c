"""WMS 1.3.0 through the front door, with OWSLib (a client we did not write): capabilities whose links
are the public URL, GetMap images that show the data, GetLegendGraphic."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from owslib.util import Authentication
from owslib.wms import WebMapService
from PIL import Image

from arraylake.types.compute import ServiceType
from tests.dataplane.frontdoor import Published, data_plane, publish
from tests.support.service import ArraylakeService

pytestmark = pytest.mark.parametrize("service", ["sqlite"], indirect=True)


@pytest.fixture(scope="module")
def published(service: ArraylakeService) -> Published:
    return publish(service)


@pytest.fixture(scope="module")
def server(published: Published) -> Iterator[str]:
    with data_plane(published, ServiceType.WMS) as url:
        yield url


@pytest.fixture(scope="module")
def wms_url(server: str, published: Published) -> str:
    return f"{server}/{published.full_name}/main/wms"


@pytest.fixture(scope="module")
def wms(wms_url: str, published: Published) -> WebMapService:
    auth = Authentication(username=published.org.name, password=published.org.token)
    return WebMapService(wms_url, version="1.3.0", auth=auth, timeout=120)


def test_capabilities_list_the_variables_and_link_to_the_public_url(wms: WebMapService, wms_url: str) -> None:
    assert {"air", "wind"} <= set(wms.contents)
    get_map = next(m for m in wms.getOperationByName("GetMap").methods if m["type"] == "Get")
    assert get_map["url"].startswith(wms_url)
    assert "/datasets/" not in get_map["url"]


def test_get_map_draws_the_field(wms: WebMapService, published: Published) -> None:
    response = wms.getmap(
        layers=["air"],
        styles=["raster/default"],
        srs="EPSG:4326",
        bbox=(-90, -180, 90, 180),  # WMS 1.3.0 EPSG:4326: latitude first
        size=(128, 64),
        format="image/png",
        time=str(published.source.time.values[0])[:19] + "Z",
        transparent=True,
        colorscalerange="200,300",
    )
    body = response.read()
    assert body[:8] == b"\x89PNG\r\n\x1a\n", body[:500]
    image = np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))
    assert image.shape == (64, 128, 4)
    opaque = image[image[..., 3] > 0][:, :3]
    assert len(opaque) > 0.5 * 64 * 128
    # air is warmest at the equator and coldest at the poles: the colours vary from row to row.
    assert len(np.unique(opaque.reshape(-1, 3), axis=0)) > 10
    equator, pole = image[32, :, :3].astype(int), image[2, :, :3].astype(int)
    assert np.abs(equator - pole).sum() > 0


def test_get_legend_graphic(wms_url: str, published: Published) -> None:
    response = httpx.get(
        wms_url,
        params={
            "service": "WMS",
            "version": "1.3.0",
            "request": "GetLegendGraphic",
            "layers": "air",
            "width": 20,
            "height": 100,
            "styles": "raster/default",
            "colorscalerange": "230,300",
        },
        auth=(published.org.name, published.org.token),
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (20, 100)


def test_links_follow_the_proxys_public_base(server: str, published: Published) -> None:
    public = "https://maps.example.org/v1/services/wms-1"
    response = httpx.get(
        f"{server}/{published.full_name}/{published.tag}/wms",
        params={"service": "WMS", "version": "1.3.0", "request": "GetCapabilities"},
        headers={"X-Arraylake-Public-Base": public},
        auth=(published.org.name, published.org.token),
        timeout=120,
    )
    assert response.status_code == 200
    assert f"{public}/{published.full_name}/{published.tag}/wms" in response.text
    assert "/datasets/" not in response.text and f"{published.org.name}~" not in response.text
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["cache-control"].endswith("immutable")


def test_an_image_over_the_response_limit_is_413(wms_url: str, published: Published) -> None:
    params = {"service": "WMS", "version": "1.3.0", "request": "GetMap", "layers": "air"}
    params |= {"crs": "EPSG:4326", "bbox": "-90,-180,90,180", "width": 40000, "height": 40000}
    params |= {"format": "image/png", "styles": "raster/default", "colorscalerange": "200,300"}
    response = httpx.get(wms_url, params=params, auth=(published.org.name, published.org.token), timeout=60)
    assert response.status_code == 413
    assert "40000x40000" in response.json()["detail"] and "limit" in response.json()["detail"]
