"""The data page: a slice of an array as an image (colour bar, sliders, the value at a clicked point), a
series as a line plot, bounded reads; and who may look."""

from __future__ import annotations

import asyncio
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
import zarr
from PIL import Image
from zarr.storage import MemoryStore

from arraylake import Client
from arraylake.server.browse import render, slices
from arraylake.server.errors import InvalidInput
from tests.support.service import ArraylakeService, Org
from tests.support.web import SampleRepo, WebUser, temperature_values, web_user, write_sample_repo

SQLITE = pytest.mark.parametrize("service", ["sqlite"], indirect=True)
TEMPERATURE = "weather/temperature"
SCALE = 20
"""The sample's temperature (18 x 36) is drawn with each value a 20-pixel square (720 pixels wide)."""
LATS = np.linspace(-85, 85, 18)
LONS = np.linspace(-175, 175, 36)


def pixel(lat: int, lon: int) -> tuple[int, int]:
    """The centre pixel of a value of the temperature image: latitude grows upwards, as on a map."""
    return lon * SCALE + SCALE // 2, (17 - lat) * SCALE + SCALE // 2


def png(response: object) -> Image.Image:
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "image/png"  # type: ignore[attr-defined]
    image = Image.open(io.BytesIO(response.content))  # type: ignore[attr-defined]
    image.load()
    return image.convert("RGBA")


def detail(response: object) -> str:
    found = re.search(r'id="error-detail">([^<]*)<', response.text)  # type: ignore[attr-defined]
    assert found, response.text  # type: ignore[attr-defined]
    return html.unescape(found.group(1))


@dataclass
class Shared:
    org: Org
    sample: SampleRepo
    tall: str
    admin: WebUser

    @property
    def data(self) -> str:
        return f"{self.sample.path}/data"


@pytest.fixture(scope="module")
def shared(service: ArraylakeService) -> Iterator[Shared]:
    """One sample repo per backend for this module's tests (they only read it), and a repo with a tall
    array (decimated when drawn) and an array of strings (never drawn)."""
    org = service.new_org("data")
    sample = write_sample_repo(org)
    client = Client(service_uri=org.url, token=org.token)
    repo = client.create_repo(f"{org.name}/tall")
    session = repo.writable_session("main")
    root = zarr.open_group(session.store, mode="w")
    tall = root.create_array(
        "tall", shape=(3000, 10), chunks=(500, 10), dtype="int16", dimension_names=["y", "x"]
    )
    tall[:] = np.arange(3000 * 10, dtype="int64").reshape(3000, 10) % 1000
    names = root.create_array("names", shape=(3,), chunks=(3,), dtype=str)
    names[:] = np.array(["a", "b", "c"])
    answer = root.create_array("answer", shape=(), dtype="int32", fill_value=0)
    answer[...] = 42
    session.commit("tall and names")
    admin = web_user(service, org.name, "admin", "admin")
    yield Shared(org, sample, "tall", admin)
    admin.close()


# ------------------------------------------------------------------------------------- pages and images


@SQLITE
def test_the_data_tab_lists_the_arrays_to_choose_from(shared: Shared) -> None:
    page = shared.admin.get(shared.data)
    assert page.status_code == 200, page.text
    assert 'id="array-list"' in page.text
    assert f"path={TEMPERATURE.replace('/', '%2F')}" in page.text
    assert "weather/station" in page.text and "4 \u00d7 18 \u00d7 36" in page.text
    assert 'aria-current="page">Data<' in page.text

    at_tag = shared.admin.get(shared.data, params={"ref": "v1"})
    assert at_tag.status_code == 200 and "weather/wind" not in at_tag.text  # wind came after v1

    strings = shared.admin.get(f"/app/{shared.org.name}/{shared.tall}/data")
    assert strings.status_code == 200 and "no: not numbers" in strings.text
    scalar = shared.admin.get(f"/app/{shared.org.name}/{shared.tall}/data", params={"path": "answer"})
    assert scalar.status_code == 200, scalar.text
    assert 'id="scalar-value">42<' in scalar.text and 'id="data-image"' not in scalar.text


@SQLITE
def test_an_array_shows_an_image_with_axes_a_time_slider_and_a_colour_bar(shared: Shared) -> None:
    page = shared.admin.get(shared.data, params={"path": TEMPERATURE, "time": 2})
    assert page.status_code == 200, page.text
    text = page.text
    assert re.search(r'<input type="image" id="data-image" name="at"[^>]*src="[^"]*/data/image\.png\?', text)
    assert 'width="720" height="360"' in text
    slider = re.search(r'<input type="range" id="slider-time" name="time"[^>]*>', text)
    assert slider and 'max="3"' in slider.group(0) and 'value="2"' in slider.group(0)
    assert re.search('id="slider-time-value">2 of 0\u20133 \u00b7 2 days since 2026-01-01<', text)
    assert 'label for="slider-time"' in text
    assert "Horizontal axis" in text and "Vertical axis" in text
    assert re.search(r'<option value="lon" selected>', text) and re.search(
        r'<option value="lat" selected>', text
    )
    assert 'hx-get="' in text and 'hx-trigger="change"' in text and 'hx-target="#data-view"' in text
    low, high = temperature_values()[2].min(), temperature_values()[2].max()
    assert f'id="colorbar-min">{low:.6g}<' in text and f'id="colorbar-max">{high:.6g}<' in text
    assert 'id="colorbar-units">degK<' in text
    assert "colorbar.png?cmap=viridis" in text
    assert 'id="missing-note"' in text
    assert f'id="stat-mean">{float(temperature_values()[2].astype("float64").mean()):.6g}<' in text
    assert 'id="data-read">648 values (2.5 KiB) from 8 chunks<' in text
    assert 'id="decimation"' not in text  # small enough to show whole

    fragment = shared.admin.get(
        shared.data, params={"path": TEMPERATURE, "time": 1}, headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="data-form"' in fragment.text


@SQLITE
def test_the_image_colours_values_by_size_and_follows_the_time_slider(shared: Shared) -> None:
    response = shared.admin.http.get(f"{shared.data}/image.png", params={"path": TEMPERATURE, "time": 0})
    image = png(response)
    assert image.size == (720, 360)
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["x-content-type-options"] == "nosniff"
    cold, warm = image.getpixel(pixel(0, 0)), image.getpixel(pixel(17, 35))
    assert cold != warm
    assert cold[3] == warm[3] == 255
    # viridis runs from dark purple (low) to yellow (high)
    assert sum(warm[:3]) > sum(cold[:3])

    at_one = png(shared.admin.http.get(f"{shared.data}/image.png", params={"path": TEMPERATURE, "time": 1}))
    assert at_one.tobytes() != image.tobytes()
    # at time 1 the west half was made 100 warmer: its colours are the warmest, the east the coldest
    west, east = at_one.getpixel(pixel(17, 17)), at_one.getpixel(pixel(17, 18))
    assert sum(west[:3]) > sum(east[:3])

    magma = png(
        shared.admin.http.get(f"{shared.data}/image.png", params={"path": TEMPERATURE, "cmap": "magma"})
    )
    assert magma.tobytes() != image.tobytes()

    # the axes swapped: latitude across, longitude up
    swapped = png(
        shared.admin.http.get(
            f"{shared.data}/image.png", params={"path": TEMPERATURE, "x": "lat", "y": "lon"}
        )
    )
    assert swapped.size == (360, 720)


@SQLITE
def test_selecting_a_point_of_the_image_shows_its_value(shared: Shared) -> None:
    values = temperature_values()
    for t, lat, lon in [(2, 5, 30), (0, 17, 0), (3, 0, 35)]:
        x, y = pixel(lat, lon)
        page = shared.admin.get(shared.data, params={"path": TEMPERATURE, "time": t, "at.x": x, "at.y": y})
        assert page.status_code == 200, page.text
        found = re.search(r'id="point-value">(.*?)</p>', page.text, re.S)
        assert found, page.text
        said = html.unescape(re.sub(r"<[^>]+>", "", found.group(1)))
        assert said == (
            f"value at (lat={LATS[lat]:.6g}, lon={LONS[lon]:.6g}) [time={t}, lat={lat}, lon={lon}]: "
            f"{float(values[t, lat, lon]):.6g} degK"
        )
    # anywhere in the square of a value gives that value; time 1, west: the +100 rewrite
    page = shared.admin.get(
        shared.data, params={"path": TEMPERATURE, "time": 1, "at.x": 3 * SCALE, "at.y": 360 - 1}
    )
    assert f"{float(values[1, 0, 3]) + 100:.6g}" in page.text and "[time=1, lat=0, lon=3]" in page.text
    # the snapshot before the rewrite
    page = shared.admin.get(
        shared.data,
        params={"path": TEMPERATURE, "time": 1, "ref": shared.sample.snapshots[0], "at.x": 60, "at.y": 359},
    )
    assert f": <strong>{float(values[1, 0, 3]):.6g}</strong>" in page.text

    outside = shared.admin.get(shared.data, params={"path": TEMPERATURE, "at.x": 720, "at.y": 5})
    assert outside.status_code == 422 and "outside" in detail(outside)


@SQLITE
def test_series_of_a_one_dimensional_array_and_through_an_image(shared: Shared) -> None:
    page = shared.admin.get(shared.data, params={"path": "weather/station"})
    assert page.status_code == 200, page.text
    assert re.search(r'<img id="data-series" class="plot" src="[^"]*/data/series\.png\?', page.text)
    assert 'id="first-values"' in page.text and 'id="slider-' not in page.text
    station = np.sin(np.arange(50) / 5)
    assert f'<td class="num">{station[3]:.6g}</td>' in page.text
    assert f'id="stat-max">{station.max():.6g}<' in page.text

    plot = png(shared.admin.http.get(f"{shared.data}/series.png", params={"path": "weather/station"}))
    assert plot.size == (720, 320)
    assert len(np.unique(np.asarray(plot).reshape(-1, 4), axis=0)) > 2  # something is drawn

    along_time = shared.admin.get(
        shared.data, params={"path": TEMPERATURE, "series": "time", "lat": 4, "lon": 5}
    )
    assert along_time.status_code == 200, along_time.text
    assert 'id="slider-lat"' in along_time.text and 'id="slider-time"' not in along_time.text
    # lon 5 is in the west: 100 warmer at time 1 since the second commit
    assert f'<td class="num">{float(temperature_values()[1, 4, 5]) + 100:.6g}</td>' in along_time.text
    plot = png(
        shared.admin.http.get(
            f"{shared.data}/series.png", params={"path": TEMPERATURE, "series": "time", "lat": 4, "lon": 5}
        )
    )
    assert plot.size == (720, 320)


@SQLITE
def test_colour_bars_and_colour_maps(shared: Shared) -> None:
    bar = png(shared.admin.http.get(f"{shared.data}/colorbar.png", params={"cmap": "magma"}))
    assert bar.size == render.COLORBAR_SIZE
    assert bar.getpixel((0, 5)) != bar.getpixel((255, 5))
    gray = png(shared.admin.http.get(f"{shared.data}/colorbar.png", params={"cmap": "gray"}))
    assert gray.getpixel((0, 5))[:3] == (0, 0, 0) and gray.getpixel((255, 5))[:3] == (255, 255, 255)

    for url, params in [
        (shared.data, {"path": TEMPERATURE, "cmap": "jet"}),
        (f"{shared.data}/image.png", {"path": TEMPERATURE, "cmap": "jet"}),
        (f"{shared.data}/colorbar.png", {"cmap": "jet"}),
    ]:
        refused = shared.admin.get(url, params=params)
        assert refused.status_code == 422, url
        assert "cmap: choose one of viridis, magma, cividis, coolwarm, gray" in detail(refused)


@SQLITE
def test_a_query_that_does_not_fit_the_array_is_refused(shared: Shared) -> None:
    cases = [
        ({"path": TEMPERATURE, "time": 4}, "time: index 4 is out of range: give 0 to 3"),
        ({"path": TEMPERATURE, "time": -1}, "time: index -1 is out of range: give 0 to 3"),
        ({"path": TEMPERATURE, "depth": 1}, "the array has no dimension 'depth'"),
        ({"path": TEMPERATURE, "time": "soon"}, "time: give an index"),
        ({"path": TEMPERATURE, "x": "height"}, "x: the array has no dimension 'height'"),
        ({"path": TEMPERATURE, "x": "lat", "y": "lat"}, "two different dimensions"),
        ({"path": "../etc"}, "path: give the path of an array"),
        ({"path": "weather"}, "'weather' is a group"),
    ]
    for params, message in cases:
        refused = shared.admin.get(shared.data, params=params)
        assert refused.status_code == 422, (params, refused.text)
        assert message in detail(refused), params
    image = shared.admin.get(f"{shared.data}/image.png", params={"path": TEMPERATURE, "time": 9})
    assert image.status_code == 422 and "lat" not in image.headers["content-type"]

    strings = shared.admin.get(f"/app/{shared.org.name}/{shared.tall}/data", params={"path": "names"})
    assert strings.status_code == 422 and "cannot be drawn" in detail(strings)

    for params in ({"path": "weather/rain"}, {"path": TEMPERATURE, "ref": "no-such-branch"}):
        missing = shared.admin.get(shared.data, params=params)
        assert missing.status_code == 404, params
    assert shared.admin.get(f"{shared.data}/image.png", params={"path": "weather/rain"}).status_code == 404


@SQLITE
def test_a_large_slice_is_read_decimated_and_says_so(shared: Shared) -> None:
    url = f"/app/{shared.org.name}/{shared.tall}/data"
    page = shared.admin.get(url, params={"path": "tall"})
    assert page.status_code == 200, page.text
    assert re.search(r'id="decimation">Shown at 1/3 resolution \(every 3rd point along y\)', page.text)
    assert 'id="data-read">10000 values' in page.text
    image = png(shared.admin.http.get(f"{url}/image.png", params={"path": "tall"}))
    assert image.size == (120, 1000)  # 1000 rows of 10 values, the narrow side stretched to be seen


# ---------------------------------------------------------------------------------------- who may look


def test_a_reader_may_look_a_member_without_grants_and_an_outsider_may_not(
    service: ArraylakeService, shared: Shared
) -> None:
    query = {"path": TEMPERATURE, "time": 1}
    reader = web_user(service, shared.org.name, "repo_reader", "reader")
    try:
        page = reader.get(shared.data, params=query)
        assert page.status_code == 200 and 'id="data-image"' in page.text
        assert 'href="' + shared.sample.path + '/settings"' not in page.text
        png(reader.http.get(f"{shared.data}/image.png", params=query))
    finally:
        reader.close()

    member = web_user(service, shared.org.name, "member", "member")
    outsider = web_user(service, None, name="outsider")
    try:
        for user, status in ((member, 403), (outsider, 404)):
            for url, params in [
                (shared.data, query),
                (shared.data, {}),
                (f"{shared.data}/image.png", query),
                (f"{shared.data}/series.png", {"path": "weather/station"}),
                (f"{shared.data}/colorbar.png", {}),
            ]:
                refused = user.get(url, params=params)
                assert refused.status_code == status, (user.email, url, refused.status_code)
                assert "image/png" not in refused.headers["content-type"]
                assert "270" not in refused.text
    finally:
        member.close()
        outsider.close()


def test_signed_out_browsers_go_to_sign_in(service: ArraylakeService, shared: Shared) -> None:
    import httpx

    with httpx.Client(base_url=service.url, follow_redirects=False) as anonymous:
        response = anonymous.get(f"{shared.data}/image.png", params={"path": TEMPERATURE})
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


@SQLITE
def test_a_snapshot_s_image_may_be_kept_longer(shared: Shared) -> None:
    snapshot = shared.sample.snapshots[1]
    response = shared.admin.http.get(
        f"{shared.data}/image.png", params={"path": TEMPERATURE, "ref": snapshot, "time": 1}
    )
    png(response)
    assert response.headers["cache-control"] == "private, max-age=3600"


# ----------------------------------------------------------------------- reading and drawing, no service


def _memory_array(data: np.ndarray, chunks: tuple[int, ...]) -> tuple[MemoryStore, slices.AnyArray]:
    async def make() -> tuple[MemoryStore, slices.AnyArray]:
        store = MemoryStore()
        root = await zarr.api.asynchronous.open_group(store=store, mode="w", zarr_format=3)
        array = await root.create_array(
            "g/big", shape=data.shape, chunks=chunks, dtype=data.dtype, dimension_names=["y", "x"]
        )
        await array.setitem(slice(None), data)
        return store, await slices.open_array(store, "g/big")

    return asyncio.run(make())


def test_a_large_slice_is_planned_with_a_stride_and_read_within_the_budget() -> None:
    data = np.arange(5000 * 3000, dtype="float32").reshape(5000, 3000)
    store, array = _memory_array(data, (1000, 1000))
    listed, truncated = asyncio.run(slices.list_arrays(store))
    assert [(e.path, e.shape, e.drawable) for e in listed] == [
        ("g/big", (5000, 3000), True)
    ] and not truncated
    assert asyncio.run(slices.list_arrays(store, limit=1)) == ([], True)  # the walk is bounded
    names = slices.dimension_names(array)
    plan = slices.plan_image(array.shape, slices.array_chunks(array), 4, names, 0, 1, {})
    assert plan.strides == (5, 3) and plan.counts == (1000, 1000)
    assert plan.nbytes <= slices.MAX_BYTES and max(plan.counts) <= slices.MAX_SIDE
    values = asyncio.run(slices.read_plan(array, plan))
    assert values.nbytes <= slices.MAX_BYTES
    np.testing.assert_array_equal(values, data[::5, ::3])

    # a tighter budget thins further; transposed axes read the same values the other way round
    tight = slices.plan_image(array.shape, (1000, 1000), 4, names, 0, 1, {}, max_bytes=100_000)
    assert tight.nbytes <= 100_000 and tight.strides[0] > 5 and tight.strides[1] > 3
    across = slices.plan_image(array.shape, (1000, 1000), 4, names, 1, 0, {}, max_bytes=100_000)
    np.testing.assert_array_equal(
        asyncio.run(slices.read_plan(array, across)), data[:: across.strides[1], :: across.strides[0]].T
    )


def test_a_small_slice_is_read_whole_and_indices_are_checked() -> None:
    names = ["time", "lat", "lon"]
    plan = slices.plan_image((4, 18, 36), (1, 9, 9), 4, names, 1, 2, {0: 3})
    assert plan.selection == (3, slice(None, None, 1), slice(None, None, 1))
    assert plan.strides == (1, 1) and plan.chunks_touched == 8
    with pytest.raises(InvalidInput, match="time: index 4 is out of range: give 0 to 3"):
        slices.plan_image((4, 18, 36), (1, 9, 9), 4, names, 1, 2, {0: 4})
    series = slices.plan_series((100_000,), (1000,), 8, ["t"], 0, {})
    assert series.strides == (10,) and series.counts == (10_000,) and series.chunks_touched == 100


def test_pixels_map_back_to_the_indices_they_draw() -> None:
    plan = slices.plan_image((3000, 10), (500, 10), 2, ["y", "x"], 0, 1, {})
    assert plan.strides == (3, 1)
    for origin_lower in (False, True):
        geo = slices.geometry(*plan.counts, origin_lower)
        assert (geo.width, geo.height) == (120, 1000)
        for iy, ix in [(0, 0), (2997, 9), (1500, 4)]:
            x, y = slices.index_to_pixel(geo, plan, iy, ix)
            assert slices.pixel_to_index(geo, plan, x, y) == (iy, ix)
    geo = slices.geometry(18, 36, True)
    whole = slices.plan_image((18, 36), (9, 9), 4, ["lat", "lon"], 0, 1, {})
    assert slices.pixel_to_index(geo, whole, 0, 0) == (17, 0)  # the top left is the last latitude
    assert slices.pixel_to_index(geo, whole, 719, 359) == (0, 35)


def test_drawing_colours_values_and_leaves_missing_ones_blank() -> None:
    values = np.array([[0.0, 1.0], [np.nan, 0.5]])
    image = Image.open(io.BytesIO(render.image_png(values, "gray", 0.0, 1.0, scale=(2, 3)))).convert("RGBA")
    assert image.size == (6, 4)
    assert image.getpixel((0, 0)) == (0, 0, 0, 255) and image.getpixel((5, 1)) == (255, 255, 255, 255)
    assert image.getpixel((0, 3))[3] == 0  # NaN is transparent
    flipped = Image.open(io.BytesIO(render.image_png(values, "gray", 0, 1, origin_lower=True))).convert(
        "RGBA"
    )
    assert flipped.getpixel((0, 0))[3] == 0
    flat = Image.open(io.BytesIO(render.image_png(np.full((2, 2), 7.0), "viridis", 7.0, 7.0))).convert("RGBA")
    assert flat.getpixel((0, 0))[3] == 255

    assert slices.stats(slices.as_float(np.array([1, -9999, 3]), [-9999.0])).mean == 2.0
    assert slices.missing_values({"_FillValue": -9999, "missing_value": [1e20, "x"]}) == [-9999.0, 1e20]
    assert slices.stats(np.array([np.nan])).minimum is None
    assert slices.drawable(np.dtype(bool)) and not slices.drawable(np.dtype("U3"))

    plot = Image.open(io.BytesIO(render.line_png(None, np.sin(np.arange(30.0)), xlabel="t", ylabel="v")))
    assert plot.size == (720, 320)
    with pytest.raises(InvalidInput):
        render.check_colormap("jet")
    assert render.check_colormap(None) == "viridis"
