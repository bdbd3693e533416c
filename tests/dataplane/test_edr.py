"""Our OGC API EDR plugin, served by xpublish under a real HTTP server over datasets committed to real
Icechunk repos: values compared with xarray's nearest selection on the same dataset, CoverageJSON validated
with covjson-pydantic, CSV read with pandas, NetCDF with xarray, and every bad input answered with a 4xx."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
import shapely
import xarray as xr
import xpublish
from covjson_pydantic.coverage import Coverage, CoverageCollection
from dask.callbacks import Callback

from arraylake.dataplane.edr import EdrPlugin
from arraylake.dataplane.edr.axes import find_axes
from arraylake.dataplane.edr.covjson import number_list
from arraylake.dataplane.edr.files import csv_text
from arraylake.dataplane.edr.query import OutputFormat
from arraylake.dataplane.edr.select import estimated_bytes, load, select_area, select_position
from tests.dataplane.conftest import (
    cf_dataset,
    commit_dataset,
    open_snapshot,
    serve,
)

TRIANGLE = "POLYGON((-40 -30, 60 -30, 10 50, -40 -30))"


def levels_dataset() -> xr.Dataset:
    """Longitudes 0..355 and pressure levels (Z): ``temp`` on time x plev x lat x lon; ``orog`` and ``land``
    (uint8, values over int8) on lat x lon; attributes NetCDF 3 cannot hold as they are."""
    rng = np.random.default_rng(1)
    time = pd.date_range("2024-03-01", periods=3, freq="12h")
    plev = np.array([1000.0, 850.0, 500.0, 250.0])
    lat = np.arange(-60.0, 61.0, 10.0)
    lon = np.arange(0.0, 360.0, 5.0)
    temp = rng.normal(260, 10, (time.size, plev.size, lat.size, lon.size)).astype("float32")
    orog = rng.uniform(0, 3000, (lat.size, lon.size))
    ds = xr.Dataset(
        {
            "temp": (
                ("time", "plev", "lat", "lon"),
                temp,
                {"units": "K", "standard_name": "air_temperature"},
            ),
            "orog": (("lat", "lon"), orog, {"units": "m", "standard_name": "surface_altitude"}),
            "land": (("lat", "lon"), (orog > 1500).astype("uint8") * 200, {"flag_values": [0, 200]}),
        },
        coords={
            "time": ("time", time, {"axis": "T", "standard_name": "time"}),
            "plev": (
                "plev",
                plev,
                {"axis": "Z", "units": "hPa", "positive": "down", "standard_name": "air_pressure"},
            ),
            "lat": ("lat", lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": ("lon", lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
        attrs={
            "title": "levels on 0..360 longitudes",
            "reviewed": True,
            "source": {"model": "x"},
            "big": 2**40,
        },
    )
    ds["temp"].encoding = {"chunks": (1, 2, lat.size, lon.size)}
    return ds


def bare_dataset() -> xr.Dataset:
    """A grid whose coordinates carry no CF attributes that name them X and Y."""
    return xr.Dataset({"v": (("a", "b"), np.ones((3, 4)))}, coords={"a": [0, 1, 2], "b": [0, 1, 2, 3]})


def indexed_by_position() -> xr.Dataset:
    """``lat(y)`` and ``lon(x)``: 1-D CF coordinates on dimensions of other names, which have no values."""
    ds = cf_dataset().rename({"lat": "y", "lon": "x"})
    return ds.assign_coords(lat=("y", ds.y.values, ds.y.attrs), lon=("x", ds.x.values, ds.x.attrs)).drop_vars(
        ["x", "y"]
    )


def curvilinear_dataset() -> xr.Dataset:
    """Latitude and longitude as 2-D coordinates of a (y, x) grid."""
    lat, lon = np.meshgrid(np.linspace(40, 50, 3), np.linspace(0, 10, 4), indexing="ij")
    return xr.Dataset(
        {"v": (("y", "x"), np.ones((3, 4)))},
        coords={
            "lat": (("y", "x"), lat, {"standard_name": "latitude", "units": "degrees_north"}),
            "lon": (("y", "x"), lon, {"standard_name": "longitude", "units": "degrees_east"}),
        },
    )


@pytest.fixture(scope="module")
def datasets(
    committed: tuple[object, str, xr.Dataset], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, xr.Dataset]:
    """Each test dataset as the data plane opens it: lazily, from a snapshot of a real Icechunk repo."""
    repo, snapshot, _ = committed
    opened = {"ds": open_snapshot(repo, snapshot)}  # type: ignore[arg-type]
    regional = cf_dataset().sel(lon=slice(-60, 60), lat=slice(60, -60))
    for name, ds in (
        ("levels", levels_dataset()),
        ("regional", regional),
        ("bare", bare_dataset()),
        ("curvilinear", curvilinear_dataset()),
        ("by_position", indexed_by_position()),
    ):
        other, snap = commit_dataset(Path(tmp_path_factory.mktemp(name)) / "repo", ds)
        opened[name] = open_snapshot(other, snap)
    return opened


@pytest.fixture(scope="module")
def base(datasets: dict[str, xr.Dataset]) -> Iterator[str]:
    """The server's ``/datasets`` URL; each dataset's EDR is at ``{base}/{name}/edr``."""
    rest = xpublish.Rest(datasets, plugins={"edr": EdrPlugin()})
    with serve(rest.app) as url:
        yield f"{url}/datasets"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=60) as client:
        yield client


def get(http: httpx.Client, url: str, **params: str) -> httpx.Response:
    return http.get(url, params=params)


def nearest(ds: xr.Dataset, x: float, y: float) -> xr.Dataset:
    return ds.sel(lon=x, lat=y, method="nearest")


# --- collection metadata ---------------------------------------------------------------------------------


def test_collection_describes_extent_parameters_and_queries(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["ds"]
    for url in (f"{base}/ds/edr/", f"{base}/ds/edr"):
        response = http.get(url)
        assert response.status_code == 200, response.text
        doc = response.json()
        # Cell centres -175..175 every 10 degrees: a global grid.
        assert doc["extent"]["spatial"]["bbox"] == [[-180.0, -85.0, 180.0, 85.0]]
        assert doc["extent"]["temporal"]["interval"] == [["2024-01-01T00:00:00Z", "2024-01-02T06:00:00Z"]]
        assert len(doc["extent"]["temporal"]["values"]) == ds.sizes["time"]
        assert "vertical" not in doc["extent"]
        assert set(doc["parameter_names"]) == {"air", "wind"}
        air = doc["parameter_names"]["air"]
        assert air["unit"]["symbol"] == "K"
        assert air["observedProperty"]["id"].endswith("/air_temperature/")
        assert air["observedProperty"]["label"] == {"en": "Air temperature"}
        assert doc["crs"] == ["CRS84"]
        assert {"cf_covjson", "csv", "netcdf"} <= set(doc["output_formats"])
        assert doc["data_queries"]["position"]["link"]["href"] == f"{base}/ds/edr/position"
        assert doc["data_queries"]["area"]["link"]["href"] == f"{base}/ds/edr/area"
        assert doc["title"] == "synthetic test data"


def test_collection_of_levels_on_0_360_longitudes(base: str, http: httpx.Client) -> None:
    doc = http.get(f"{base}/levels/edr/").json()
    assert doc["extent"]["spatial"]["bbox"] == [[-180.0, -60.0, 180.0, 60.0]]
    assert doc["extent"]["vertical"]["interval"] == [[250.0, 1000.0]]
    assert doc["extent"]["vertical"]["values"] == [1000.0, 850.0, 500.0, 250.0]
    assert set(doc["parameter_names"]) == {"temp", "orog", "land"}


# --- position ----------------------------------------------------------------------------------------------


def test_position_is_the_nearest_grid_point_as_a_valid_point_series(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["ds"]
    response = get(http, f"{base}/ds/edr/position", coords="POINT(12.3 41.9)")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/prs.coverage+json")
    coverage = Coverage.model_validate_json(response.content)
    assert coverage.domain.domainType.value == "PointSeries"
    expected = nearest(ds, 12.3, 41.9)
    assert coverage.domain.axes.x.values == [float(expected.lon)]
    assert coverage.domain.axes.y.values == [float(expected.lat)]
    times = [t.replace(tzinfo=None) for t in coverage.domain.axes.t.values]
    assert times == list(pd.DatetimeIndex(ds.time.values).to_pydatetime())
    for name in ("air", "wind"):
        assert coverage.ranges[name].axisNames == ["t"]
        assert coverage.ranges[name].shape == [ds.sizes["time"]]
        np.testing.assert_array_equal(
            np.array(coverage.ranges[name].values, dtype="float32"), expected[name].values
        )
    assert coverage.parameters["air"].unit.symbol == "K"


def test_position_selects_parameters_and_datetimes(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["ds"]
    url = f"{base}/ds/edr/position"
    expected = nearest(ds, -101, -21)

    interval = get(
        http,
        url,
        coords="POINT(-101 -21)",
        **{"parameter-name": "wind"},
        datetime="2024-01-01T06:00Z/2024-01-01T18:00Z",
    )
    coverage = Coverage.model_validate_json(interval.content)
    assert set(coverage.ranges) == {"wind"}
    np.testing.assert_array_equal(
        np.array(coverage.ranges["wind"].values, "float32"), expected.wind.values[1:4]
    )

    instant = Coverage.model_validate_json(
        get(http, url, coords="POINT(-101 -21)", datetime="2024-01-01T12:00:00Z").content
    )
    assert [t.isoformat() for t in instant.domain.axes.t.values] == ["2024-01-01T12:00:00+00:00"]
    assert instant.ranges["air"].values == [pytest.approx(float(expected.air.values[2]))]

    open_start = Coverage.model_validate_json(
        get(http, url, coords="POINT(-101 -21)", datetime="../2024-01-01T06:00:00Z").content
    )
    assert open_start.ranges["air"].shape == [2]


@pytest.mark.parametrize("f", ["covjson", "json", "CoverageJSON", "cf_covjson"])
def test_coveragejson_format_names(base: str, http: httpx.Client, f: str) -> None:
    response = get(http, f"{base}/ds/edr/position", coords="POINT(1 1)", f=f, crs="CRS84")
    assert response.status_code == 200, response.text
    Coverage.model_validate_json(response.content)


def test_multipoint_is_a_collection_of_point_series(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["ds"]
    points = [(-170.2, 80.1), (0.4, 0.2), (33.3, -47.7)]
    wkt = "MULTIPOINT(" + ", ".join(f"({x} {y})" for x, y in points) + ")"
    response = get(http, f"{base}/ds/edr/position", coords=wkt, **{"parameter-name": "air"})
    assert response.status_code == 200, response.text
    collection = CoverageCollection.model_validate_json(response.content)
    assert len(collection.coverages) == len(points)
    for coverage, (x, y) in zip(collection.coverages, points, strict=True):
        expected = nearest(ds, x, y)
        assert coverage.domain.domainType.value == "PointSeries"
        assert coverage.domain.axes.x.values == [float(expected.lon)]
        assert coverage.domain.axes.y.values == [float(expected.lat)]
        np.testing.assert_array_equal(np.array(coverage.ranges["air"].values, "float32"), expected.air.values)


def test_position_as_csv_has_one_row_per_time_step(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["ds"]
    response = get(http, f"{base}/ds/edr/position", coords="POINT(101 11)", f="csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(response.text))
    expected = nearest(ds, 101, 11)
    assert list(table.columns) == ["time", "x", "y", "air", "wind"]
    assert len(table) == ds.sizes["time"]
    assert list(pd.to_datetime(table.time).dt.tz_localize(None)) == list(pd.DatetimeIndex(ds.time.values))
    assert set(table.x) == {float(expected.lon)} and set(table.y) == {float(expected.lat)}
    np.testing.assert_allclose(table.air, expected.air.values, rtol=1e-6)
    np.testing.assert_allclose(table.wind, expected.wind.values, rtol=1e-6)


def test_position_as_netcdf(base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]) -> None:
    ds = datasets["ds"]
    response = get(http, f"{base}/ds/edr/position", coords="POINT(-61 -61)", f="nc")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-netcdf"
    answer = xr.open_dataset(io.BytesIO(response.content)).load()
    expected = nearest(ds, -61, -61)
    np.testing.assert_array_equal(answer.air.values, expected.air.values)
    np.testing.assert_array_equal(answer.time.values, ds.time.values)
    assert float(answer.lon) == float(expected.lon)
    assert answer.air.attrs["standard_name"] == "air_temperature"


# --- area ------------------------------------------------------------------------------------------------


def cells_inside(ds: xr.Dataset, polygon: str) -> int:
    lon, lat = np.meshgrid(ds.lon.values, ds.lat.values)
    return int(shapely.intersects_xy(shapely.from_wkt(polygon), lon, lat).sum())


def test_area_is_a_valid_grid_of_the_cells_in_the_polygon(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["ds"]
    response = get(http, f"{base}/ds/edr/area", coords=TRIANGLE)
    assert response.status_code == 200, response.text
    coverage = Coverage.model_validate_json(response.content)
    assert coverage.domain.domainType.value == "Grid"
    xs, ys = coverage.domain.axes.x.values, coverage.domain.axes.y.values
    assert len(coverage.domain.axes.t.values) == ds.sizes["time"]
    polygon = shapely.from_wkt(TRIANGLE)
    source = ds.sel(lon=xs, lat=ys).load()
    for name in ("air", "wind"):
        rng = coverage.ranges[name]
        assert rng.axisNames == ["t", "y", "x"]
        assert rng.shape == [ds.sizes["time"], len(ys), len(xs)]
        values = np.array([np.nan if v is None else v for v in rng.values], dtype="float64").reshape(
            rng.shape
        )
        for j, y in enumerate(ys):
            for i, x in enumerate(xs):
                if polygon.intersects(shapely.Point(x, y)):
                    np.testing.assert_array_equal(
                        values[:, j, i].astype("float32"), source[name].values[:, j, i]
                    )
                else:
                    assert np.isnan(values[:, j, i]).all()
        assert np.isfinite(values[0]).sum() == cells_inside(ds, TRIANGLE)


def test_multipolygon_area(base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]) -> None:
    ds = datasets["ds"]
    two = (
        "MULTIPOLYGON(((-10 -10, 10 -10, 10 10, -10 10, -10 -10)), "
        "((100 40, 130 40, 130 60, 100 60, 100 40)))"
    )
    response = get(
        http, f"{base}/ds/edr/area", coords=two, **{"parameter-name": "air"}, datetime="2024-01-01T00:00Z"
    )
    assert response.status_code == 200, response.text
    coverage = Coverage.model_validate_json(response.content)
    assert set(coverage.ranges) == {"air"}
    assert sum(v is not None for v in coverage.ranges["air"].values) == cells_inside(ds, two)


def test_area_as_csv_lists_the_cells_in_the_polygon(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["ds"]
    response = get(http, f"{base}/ds/edr/area", coords=TRIANGLE, f="csv", **{"parameter-name": "air"})
    assert response.status_code == 200, response.text
    table = pd.read_csv(io.StringIO(response.text))
    assert list(table.columns) == ["time", "x", "y", "air"]
    assert len(table) == cells_inside(ds, TRIANGLE) * ds.sizes["time"]
    times = pd.to_datetime(table.time).dt.tz_localize(None)
    expected = [
        float(ds.air.sel(time=t, lon=x, lat=y)) for t, x, y in zip(times, table.x, table.y, strict=True)
    ]
    np.testing.assert_allclose(table.air, expected, rtol=1e-6)


def test_area_as_netcdf(base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]) -> None:
    ds = datasets["ds"]
    response = get(http, f"{base}/ds/edr/area", coords=TRIANGLE, f="netcdf")
    assert response.status_code == 200, response.text
    answer = xr.open_dataset(io.BytesIO(response.content)).load()
    assert set(answer.data_vars) == {"air", "wind"}
    source = ds.sel(lon=answer.lon, lat=answer.lat)
    inside = answer.air.notnull()
    assert int(inside.isel(time=0).sum()) == cells_inside(ds, TRIANGLE)
    np.testing.assert_array_equal(answer.air.where(inside, 0).values, source.air.where(inside, 0).values)
    assert answer.lat.attrs["standard_name"] == "latitude"


# --- 0..360 longitudes and levels -----------------------------------------------------------------------


def test_0_360_longitudes_answer_in_the_query_convention(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["levels"]
    response = get(http, f"{base}/levels/edr/position", coords="POINT(-21 9)", z="500")
    assert response.status_code == 200, response.text
    coverage = Coverage.model_validate_json(response.content)
    assert coverage.domain.domainType.value == "PointSeries"
    assert coverage.domain.axes.x.values == [-20.0]
    assert coverage.domain.axes.z.values == [500.0]
    expected = ds.sel(lon=340, lat=9, plev=500, method="nearest")
    np.testing.assert_array_equal(np.array(coverage.ranges["temp"].values, "float32"), expected.temp.values)
    assert coverage.ranges["orog"].values == [pytest.approx(float(expected.orog))]

    # 0..360 queries work too, and answer in 0..360.
    east = Coverage.model_validate_json(
        get(http, f"{base}/levels/edr/position", coords="POINT(339 9)", z="500").content
    )
    assert east.domain.axes.x.values == [340.0]
    assert east.ranges["temp"].values == coverage.ranges["temp"].values

    # An area across the 0 meridian: columns 350..355 then 0..10, in the query's -180..180.
    square = "POLYGON((-10 -10, 10 -10, 10 10, -10 10, -10 -10))"
    area = get(http, f"{base}/levels/edr/area", coords=square, z="1000", **{"parameter-name": "temp"})
    assert area.status_code == 200, area.text
    grid = Coverage.model_validate_json(area.content)
    assert grid.domain.axes.x.values == [-10.0, -5.0, 0.0, 5.0, 10.0]
    assert grid.domain.axes.y.values == [-10.0, 0.0, 10.0]
    values = np.array(grid.ranges["temp"].values, "float32").reshape(grid.ranges["temp"].shape)
    source = ds.temp.sel(plev=1000, lat=[-10, 0, 10], lon=[350, 355, 0, 5, 10])
    assert grid.ranges["temp"].axisNames == ["t", "z", "y", "x"]
    np.testing.assert_array_equal(values[:, 0], source.values)


def test_levels_select_by_z(base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]) -> None:
    ds = datasets["levels"]
    url = f"{base}/levels/edr/position"
    expected = ds.temp.sel(lon=120, lat=30)

    every = Coverage.model_validate_json(
        get(http, url, coords="POINT(120 30)", **{"parameter-name": "temp"}).content
    )
    assert every.domain.axes.z.values == [1000.0, 850.0, 500.0, 250.0]
    assert every.ranges["temp"].axisNames == ["t", "z"]
    values = np.array(every.ranges["temp"].values, "float32").reshape(every.ranges["temp"].shape)
    np.testing.assert_array_equal(values, expected.values)

    profile = Coverage.model_validate_json(
        get(http, url, coords="POINT(120 30)", z="900/400", datetime="2024-03-01T12:00Z").content
    )
    assert profile.domain.domainType.value == "VerticalProfile"
    assert profile.domain.axes.z.values == [850.0, 500.0]
    np.testing.assert_array_equal(
        np.array(profile.ranges["temp"].values, "float32"), expected.sel(plev=[850, 500]).isel(time=1).values
    )

    static = pd.read_csv(
        io.StringIO(get(http, url, coords="POINT(120 30)", f="csv", **{"parameter-name": "orog"}).text)
    )
    assert list(static.columns) == ["x", "y", "orog"]
    assert static.orog.tolist() == [pytest.approx(float(ds.orog.sel(lon=120, lat=30)))]

    table = pd.read_csv(io.StringIO(get(http, url, coords="POINT(120 30)", z="250", f="csv").text))
    assert list(table.columns)[:4] == ["time", "x", "y", "z"]
    assert set(table.columns[4:]) == {"temp", "orog", "land"}

    answer = xr.open_dataset(io.BytesIO(get(http, url, coords="POINT(120 30)", z="250", f="netcdf").content))
    np.testing.assert_array_equal(answer.temp.values, expected.sel(plev=[250]).values)
    assert int(answer.land) == int(ds.land.sel(lon=120, lat=30))
    assert answer.attrs["reviewed"] == 1 and json.loads(answer.attrs["source"]) == {"model": "x"}
    np.testing.assert_allclose(table.temp, expected.sel(plev=250).values, rtol=1e-6)


# --- bad input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "says"),
    [
        ("position", {"coords": "POINT(1 2"}, "not valid WKT; expected a POINT or MULTIPOINT"),
        ("position", {"coords": "POLYGON((0 0, 1 0, 1 1, 0 0))"}, "expected a POINT or MULTIPOINT"),
        ("position", {}, "coords is required"),
        ("area", {"coords": "POINT(1 2)"}, "expected a POLYGON or MULTIPOLYGON"),
        ("area", {"coords": "POLYGON((0 0, 1 0))"}, "not valid WKT"),
        (
            "position",
            {"coords": "POINT(1 2)", "parameter-name": "air,nope"},
            "available parameters: air, wind",
        ),
        (
            "position",
            {"coords": "POINT(1 -90.5)"},
            "outside the data's extent: lon -175 to 175, lat -85 to 85",
        ),
        ("area", {"coords": "POLYGON((0.1 0.1, 0.2 0.1, 0.2 0.2, 0.1 0.1))"}, "no grid cell centre falls"),
        (
            "position",
            {"coords": "POINT(1 2)", "datetime": "2030-01-01T00:00Z"},
            "outside the data's time range",
        ),
        ("position", {"coords": "POINT(1 2)", "datetime": "2030-01-01/.."}, "selects no time step"),
        ("position", {"coords": "POINT(1 2)", "datetime": "yesterday"}, "not an ISO 8601 date-time"),
        ("position", {"coords": "POINT(1 2)", "datetime": "2024-01-02/2024-01-01"}, "start is after the end"),
        ("position", {"coords": "POINT(1 2)", "z": "500"}, "no vertical (Z) axis"),
        ("position", {"coords": "POINT(1 2)", "f": "geotiff"}, "f=cf_covjson, covjson"),
        ("position", {"coords": "POINT(1 2)", "crs": "EPSG:3857"}, "coords are CRS84 longitude/latitude"),
    ],
)
def test_bad_input_is_a_422_that_says_what_was_expected(
    base: str, http: httpx.Client, path: str, params: dict[str, str], says: str
) -> None:
    response = http.get(f"{base}/ds/edr/{path}", params=params)
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]


@pytest.mark.parametrize(
    ("dataset", "path", "params", "says"),
    [
        (
            "levels",
            "position",
            {"coords": "POINT(1 2)", "z": "2000"},
            "outside the data's levels, 250 to 1000",
        ),
        ("levels", "position", {"coords": "POINT(1 2)", "z": "ten"}, "not a level"),
        (
            "levels",
            "position",
            {"coords": "POINT(1 66)"},
            "outside the data's extent: lon 0 to 355, lat -60 to 60",
        ),
        ("regional", "position", {"coords": "POINT(61 0)"}, "outside the data's extent: lon -55 to 55"),
        ("regional", "position", {"coords": "POINT(290 0)"}, "outside the data's extent"),
        (
            "regional",
            "area",
            {"coords": "POLYGON((100 0, 120 0, 120 10, 100 0))"},
            "outside the data's extent",
        ),
        ("regional", "area", {"coords": "POLYGON((0 70, 10 70, 10 80, 0 70))"}, "outside the data's extent"),
    ],
)
def test_bad_input_on_regional_grids_and_levels(
    base: str, http: httpx.Client, dataset: str, path: str, params: dict[str, str], says: str
) -> None:
    response = http.get(f"{base}/{dataset}/edr/{path}", params=params)
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]


@pytest.mark.parametrize("path", ["", "/position", "/area"])
def test_dataset_without_xy_axes_points_at_repo_doctor(base: str, http: httpx.Client, path: str) -> None:
    response = http.get(f"{base}/bare/edr{path}", params={"coords": "POINT(1 1)"})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert "X and Y axis" in detail and "`axis: X`" in detail and "arraylake repo doctor" in detail


def test_lat_lon_coordinates_on_other_dimensions(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]
) -> None:
    ds = datasets["by_position"]
    assert "lon" not in ds.dims
    expected = ds.swap_dims(x="lon", y="lat").sel(lon=12.3, lat=41.9, method="nearest")
    point = get(http, f"{base}/by_position/edr/position", coords="POINT(12.3 41.9)")
    assert point.status_code == 200, point.text
    coverage = Coverage.model_validate_json(point.content)
    assert coverage.domain.axes.x.values == [float(expected.lon)]
    np.testing.assert_array_equal(np.array(coverage.ranges["air"].values, "float32"), expected.air.values)
    area = get(http, f"{base}/by_position/edr/area", coords=TRIANGLE)
    assert area.status_code == 200, area.text
    grid = Coverage.model_validate_json(area.content)
    assert (
        sum(v is not None for v in grid.ranges["air"].values)
        == cells_inside(datasets["ds"], TRIANGLE) * ds.sizes["time"]
    )
    assert http.get(f"{base}/by_position/edr/").json()["extent"]["spatial"]["bbox"] == [[-180, -85, 180, 85]]


def test_a_curvilinear_grid_is_named_as_such(base: str, http: httpx.Client) -> None:
    response = http.get(f"{base}/curvilinear/edr/position", params={"coords": "POINT(1 45)"})
    assert response.status_code == 422, response.text
    assert "lat, lon are multi-dimensional (a curvilinear grid)" in response.json()["detail"]


def test_an_answer_over_the_limit_is_a_413_before_reading(datasets: dict[str, xr.Dataset]) -> None:
    rest = xpublish.Rest({"ds": datasets["ds"]}, plugins={"edr": EdrPlugin(max_response_bytes=4096)})
    with serve(rest.app) as url, httpx.Client(timeout=60) as http:
        small = http.get(f"{url}/datasets/ds/edr/position", params={"coords": "POINT(0 0)"})
        assert small.status_code == 200, small.text
        big = http.get(f"{url}/datasets/ds/edr/area", params={"coords": TRIANGLE})
        assert big.status_code == 413, big.text
        detail = big.json()["detail"]
        assert (
            "4.0 KiB" in detail
            and "a smaller polygon, fewer parameters or a shorter datetime range" in detail
        )
        narrower = http.get(
            f"{url}/datasets/ds/edr/area",
            params={
                "coords": "POLYGON((0 0, 20 0, 20 20, 0 0))",
                "parameter-name": "air",
                "datetime": "2024-01-01",
            },
        )
        assert narrower.status_code == 200, narrower.text


# --- reading only what is selected, and sending it in pieces ---------------------------------------------


class ChunkReads(Callback):
    """The chunks Dask reads from the repo while active (in any thread, so also in the server's)."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[tuple[object, ...]] = set()

    def _pretask(self, key: object, dsk: object, state: object) -> None:
        if isinstance(key, tuple) and str(key[0]).startswith("open_dataset-"):
            self.keys.add(key)

    def of(self, variable: str) -> set[tuple[object, ...]]:
        return {key for key in self.keys if str(key[0]).startswith(f"open_dataset-{variable}-")}


def test_an_area_reads_only_the_chunks_of_its_selection(
    datasets: dict[str, xr.Dataset], base: str, http: httpx.Client
) -> None:
    # air is chunked two time steps at a time: three chunks, of which one holds 06:00.
    assert datasets["ds"].air.data.numblocks == (3, 1, 1)
    with ChunkReads() as reads:
        response = get(http, f"{base}/ds/edr/area", coords=TRIANGLE, datetime="2024-01-01T06:00Z")
    assert response.status_code == 200, response.text
    assert [key[1:] for key in reads.of("air")] == [(0, 0, 0)]
    assert [key[1:] for key in reads.of("wind")] == [(0, 0, 0)]


def test_a_refused_area_reads_nothing(datasets: dict[str, xr.Dataset]) -> None:
    rest = xpublish.Rest({"ds": datasets["ds"]}, plugins={"edr": EdrPlugin(max_response_bytes=1024)})
    with serve(rest.app) as url, httpx.Client(timeout=60) as http, ChunkReads() as reads:
        response = http.get(f"{url}/datasets/ds/edr/area", params={"coords": TRIANGLE})
    assert response.status_code == 413, response.text
    assert reads.keys == set()


def test_number_lists_and_csv_are_written_in_blocks(datasets: dict[str, xr.Dataset]) -> None:
    values = np.array([[1.5, np.nan], [np.inf, 250.12346]], dtype="float32")
    text = b"".join(number_list(values, block=3))
    assert text == b"[1.5,null,null,250.12346]"
    assert json.loads(text) == [1.5, None, None, pytest.approx(250.12346)]
    assert b"".join(number_list(np.array([3, 4, 5]), block=2)) == b"[3,4,5]"

    ds = datasets["ds"]
    axes = find_axes(ds)
    selection = load(select_position(ds, axes, shapely.from_wkt("POINT(1 1)"), ["air"], None, None))
    whole = b"".join(csv_text(selection))
    assert b"".join(csv_text(selection, rows_per_block=4)) == whole
    assert whole.splitlines()[1].startswith(b"2024-01-01T00:00:00Z,5.0,5.0,")


def test_multipoint_as_csv_and_netcdf(base: str, http: httpx.Client, datasets: dict[str, xr.Dataset]) -> None:
    ds = datasets["ds"]
    params = {"coords": "MULTIPOINT((1 1), (-121 33))", "parameter-name": "wind"}
    table = pd.read_csv(io.StringIO(http.get(f"{base}/ds/edr/position", params={**params, "f": "csv"}).text))
    assert list(table.columns) == ["time", "x", "y", "wind"]
    assert len(table) == 2 * ds.sizes["time"]
    for (x, y), rows in table.groupby(["x", "y"]):
        np.testing.assert_allclose(rows.wind, ds.wind.sel(lon=x, lat=y).values, rtol=1e-6)
    answer = xr.open_dataset(
        io.BytesIO(http.get(f"{base}/ds/edr/position", params={**params, "f": "netcdf"}).content)
    ).load()
    assert answer.wind.sizes == {"point": 2, "time": ds.sizes["time"]}
    np.testing.assert_array_equal(answer.wind.isel(point=1).values, nearest(ds, -121, 33).wind.values)


@pytest.mark.parametrize("f", ["cf_covjson", "csv", "netcdf"])
def test_the_size_estimate_is_close_to_the_answer(
    base: str, http: httpx.Client, datasets: dict[str, xr.Dataset], f: str
) -> None:
    ds = datasets["ds"]
    lazy = select_area(ds, find_axes(ds), shapely.from_wkt(TRIANGLE), ["air", "wind"], None, None)
    estimate = estimated_bytes(lazy, OutputFormat(f))
    response = get(http, f"{base}/ds/edr/area", coords=TRIANGLE, f=f)
    assert response.status_code == 200, response.text
    assert len(response.content) / 2 < estimate < len(response.content) * 2
