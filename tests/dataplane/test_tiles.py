"""OGC API Tiles through the front door: tileset metadata, tilejson whose tile URLs are public, and XYZ PNG
tiles decoded with PIL that show the data."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from arraylake.types.compute import ServiceType
from tests.dataplane.frontdoor import Published, data_plane, publish
from tests.support.service import ArraylakeService

pytestmark = pytest.mark.parametrize("service", ["sqlite"], indirect=True)

TMS = "WebMercatorQuad"


@pytest.fixture(scope="module")
def published(service: ArraylakeService) -> Published:
    return publish(service)


@pytest.fixture(scope="module")
def tiles_url(published: Published) -> Iterator[str]:
    with data_plane(published, ServiceType.TILES) as url:
        yield f"{url}/{published.full_name}/main/tiles"


@pytest.fixture(scope="module")
def http(published: Published) -> Iterator[httpx.Client]:
    with httpx.Client(auth=(published.org.name, published.org.token), timeout=120) as client:
        yield client


def png(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))


def test_tileset_metadata(tiles_url: str, http: httpx.Client) -> None:
    response = http.get(f"{tiles_url}/{TMS}")
    assert response.status_code == 200, response.text
    metadata = response.json()
    assert metadata["tileMatrixSetURI"].endswith(TMS) or TMS in str(metadata)
    assert "/datasets/" not in response.text


def test_tilejson_links_are_public(tiles_url: str, http: httpx.Client) -> None:
    response = http.get(
        f"{tiles_url}/{TMS}/tilejson.json", params={"variables": "air", "colorscalerange": "200,300"}
    )
    assert response.status_code == 200, response.text
    template = response.json()["tiles"][0]
    assert template.startswith(f"{tiles_url}/{TMS}/{{z}}/{{y}}/{{x}}"), template
    # A client following the template gets a tile.
    url = template.replace("{z}", "1").replace("{y}", "0").replace("{x}", "0")
    assert png(http.get(url)).shape[:2] == (256, 256)


def test_xyz_tiles_without_format_or_size_are_256_pixel_pngs_of_the_field(
    tiles_url: str, http: httpx.Client
) -> None:
    params = {"variables": "air", "colorscalerange": "200,300"}
    north = png(http.get(f"{tiles_url}/{TMS}/1/0/0", params=params))
    south = png(http.get(f"{tiles_url}/{TMS}/1/1/0", params=params))
    assert north.shape == south.shape == (256, 256, 4)
    assert (north[..., 3] > 0).mean() > 0.5
    # Warm near the equator, cold near the pole: a northern tile's top and bottom rows differ.
    assert np.abs(north[5, :, :3].astype(int) - north[250, :, :3].astype(int)).sum() > 0
    assert not np.array_equal(north, south)


def test_tiles_differ_with_the_variable(tiles_url: str, http: httpx.Client) -> None:
    air = png(http.get(f"{tiles_url}/{TMS}/1/0/1", params={"variables": "air", "colorscalerange": "200,300"}))
    wind = png(http.get(f"{tiles_url}/{TMS}/1/0/1", params={"variables": "wind", "colorscalerange": "0,20"}))
    assert not np.array_equal(air, wind)


def test_tile_responses_are_cacheable_by_snapshot(
    tiles_url: str, http: httpx.Client, published: Published
) -> None:
    first = http.get(f"{tiles_url}/{TMS}/0/0/0", params={"variables": "air", "colorscalerange": "200,300"})
    assert first.status_code == 200
    assert first.headers["x-arraylake-snapshot"] == published.snapshot
    again = http.get(
        f"{tiles_url}/{TMS}/0/0/0",
        params={"variables": "air", "colorscalerange": "200,300"},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304


def test_an_oversized_tile_is_413(published: Published, http: httpx.Client) -> None:
    with data_plane(published, ServiceType.TILES, max_response_bytes=256 * 256 * 4) as url:
        response = http.get(
            f"{url}/{published.full_name}/main/tiles/{TMS}/1/0/0",
            params={"variables": "air", "width": 512, "height": 512},
        )
        assert response.status_code == 413
        assert "512x512" in response.json()["detail"]
