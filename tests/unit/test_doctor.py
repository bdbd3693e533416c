"""The dataset doctor (``arraylake.client.doctor``): its verdicts agree with what cf_xarray (which the
protocol plugins use) finds, its guesses come from names, values and units, and its fixes land in Icechunk as
metadata only."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import cf_xarray  # noqa: F401  (the .cf accessor: what the protocol plugins see)
import icechunk
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from arraylake.client.doctor import (
    AttributeFix,
    Diagnosis,
    NotADatasetError,
    apply_fixes,
    diagnose,
    fix_message,
    open_dataset,
)
from arraylake.types.compute import ServiceType

EDR, WMS, TILES, DAP2, ZARR = (
    ServiceType.EDR,
    ServiceType.WMS,
    ServiceType.TILES,
    ServiceType.DAP2,
    ServiceType.ZARR,
)


def gridded(*, cf: bool, nt: int = 4, ny: int = 5, nx: int = 8) -> xr.Dataset:
    """Temperature on time x level x lat x lon; with the CF attributes (``cf``) or with none at all."""
    lat = np.linspace(60.0, 30.0, ny)
    lon = np.linspace(-20.0, 50.0, nx)
    data = np.arange(nt * 2 * ny * nx, dtype="float32").reshape(nt, 2, ny, nx)
    ds = xr.Dataset(
        {"temp": (("time", "level", "lat", "lon"), data, {"long_name": "temperature"})},
        coords={
            "time": pd.date_range("2024-01-01", periods=nt, freq="D"),
            "level": ("level", [850.0, 500.0], {"units": "hPa"}),
            "lat": lat,
            "lon": lon,
        },
    )
    if cf:
        ds.time.attrs.update(axis="T", standard_name="time")
        ds.level.attrs.update(axis="Z", standard_name="air_pressure")
        ds.lat.attrs.update(axis="Y", standard_name="latitude", units="degrees_north")
        ds.lon.attrs.update(axis="X", standard_name="longitude", units="degrees_east")
    return ds


def verdicts(diagnosis: Diagnosis) -> dict[ServiceType, tuple[bool, bool]]:
    """Per protocol: (compatible now, compatible after the fixes)."""
    return {c.protocol: (c.compatible, c.compatible_after_fix) for c in diagnosis.protocols}


def fixes_of(diagnosis: Diagnosis) -> dict[str, dict[str, str]]:
    return {fix.variable: fix.attributes for fix in diagnosis.fixes}


def with_fixes(ds: xr.Dataset, diagnosis: Diagnosis) -> xr.Dataset:
    """``ds`` with the proposed attributes set, as a user would set them by hand."""
    fixed = ds.copy(deep=True)
    for fix in diagnosis.fixes:
        fixed[fix.variable].attrs.update(fix.attributes)
    return fixed


ALL_GOOD = {p: (True, True) for p in (EDR, WMS, TILES, DAP2, ZARR)}


def test_a_cf_complete_dataset_serves_every_protocol_and_needs_no_fix() -> None:
    ds = gridded(cf=True)
    found = diagnose(ds)
    assert verdicts(found) == ALL_GOOD
    assert found.fixes == [] and found.notes == []
    assert all(c.reasons == [] for c in found.protocols)
    assert found.axes == {"X": ["lon"], "Y": ["lat"], "Z": ["level"], "T": ["time"]}
    assert found.coordinates == {
        "latitude": ["lat"],
        "longitude": ["lon"],
        "vertical": ["level"],
        "time": ["time"],
    }
    # the doctor reads the attributes as cf_xarray does
    assert ds.cf.axes == found.axes and ds.cf.coordinates == found.coordinates
    assert found.check(EDR).compatible and found.grid_mappings == []


def test_missing_axis_attributes_are_guessed_from_names_values_and_units() -> None:
    ds = gridded(cf=False)
    assert ds.cf.axes == {} and "latitude" not in ds.cf.coordinates  # the plugins would find nothing
    found = diagnose(ds)
    assert verdicts(found) == {
        EDR: (False, True),
        WMS: (False, True),
        TILES: (False, True),
        DAP2: (True, True),
        ZARR: (True, True),
    }
    assert found.check(EDR).reasons == [
        "no X axis (a coordinate with axis: X, or a projection_x_coordinate)",
        "no Y axis (a coordinate with axis: Y, or a projection_y_coordinate)",
    ]
    assert [r.split(" (")[0] for r in found.check(WMS).reasons] == ["no latitude", "no longitude"]
    assert "no grid mapping" in found.check(TILES).reasons[0]
    assert fixes_of(found) == {
        "lat": {"axis": "Y", "standard_name": "latitude", "units": "degrees_north"},
        "lon": {"axis": "X", "standard_name": "longitude", "units": "degrees_east"},
        "time": {"axis": "T", "standard_name": "time"},
        # "hPa" was there already: only what is missing is added
        "level": {"axis": "Z", "standard_name": "air_pressure"},
    }
    reasons = {fix.variable: fix.reason for fix in found.fixes}
    assert reasons["lat"] == "named 'lat', values 30..60" and reasons["level"].endswith(
        "units 'hPa', values 500..850"
    )

    fixed = with_fixes(ds, found)
    assert fixed.cf.axes == {"X": ["lon"], "Y": ["lat"], "Z": ["level"], "T": ["time"]}
    assert fixed.cf.coordinates["latitude"] == ["lat"] and fixed.cf.coordinates["longitude"] == ["lon"]
    again = diagnose(fixed)
    assert verdicts(again) == ALL_GOOD and again.fixes == []


def test_other_spellings_and_2d_coordinates() -> None:
    ny, nx = 3, 4
    lat2d, lon2d = np.meshgrid(np.linspace(10, 20, ny), np.linspace(100, 120, nx), indexing="ij")
    curvilinear = xr.Dataset(
        {"sst": (("t", "depth", "nj", "ni"), np.zeros((2, 2, ny, nx), "float32"))},
        coords={
            "t": pd.date_range("2020-01-01", periods=2),
            "depth": [0.0, 10.0],
            "latitude": (("nj", "ni"), lat2d),
            "longitude": (("nj", "ni"), lon2d),
        },
    )
    found = diagnose(curvilinear)
    assert fixes_of(found) == {
        "t": {"axis": "T", "standard_name": "time"},
        "depth": {"axis": "Z", "standard_name": "depth", "positive": "down"},
        # axis names a dimension: a 2-D latitude gets its standard_name and units only
        "latitude": {"standard_name": "latitude", "units": "degrees_north"},
        "longitude": {"standard_name": "longitude", "units": "degrees_east"},
    }
    # nj and ni have no coordinate variables to carry an axis: EDR stays out of reach, WMS and Tiles not
    assert verdicts(found) == {
        EDR: (False, False),
        WMS: (False, True),
        TILES: (False, True),
        DAP2: (True, True),
        ZARR: (True, True),
    }
    fixed = with_fixes(curvilinear, found)
    assert fixed.cf.coordinates["latitude"] == ["latitude"] and fixed.cf.axes["Z"] == ["depth"]


def test_existing_attributes_are_kept_and_never_contradicted() -> None:
    ds = gridded(cf=False)
    ds.lat.attrs["units"] = "degrees_north"  # latitude by its units already: no axis yet
    ds.lon.attrs.update(standard_name="grid_longitude", units="degrees")  # a rotated grid says so
    ds.time.attrs["axis"] = "T"
    ds.level.attrs["axis"] = "X"  # wrong, but said: the doctor does not overrule it
    found = diagnose(ds)
    assert fixes_of(found) == {
        "lat": {"axis": "Y", "standard_name": "latitude"},
        "lon": {"axis": "X"},
        "time": {"standard_name": "time"},
    }
    assert found.coordinates["latitude"] == ["lat"] and found.axes["X"] == ["level", "lon"]
    # the rotated grid has no longitude: WMS stays incompatible; EDR lacks only lat's axis: Y
    assert verdicts(found)[WMS] == (False, False) and verdicts(found)[EDR] == (False, True)


def test_names_whose_values_do_not_fit_are_noted_not_guessed() -> None:
    ds = gridded(cf=False).assign_coords(lat=np.linspace(0.0, 1000.0, 5))
    found = diagnose(ds)
    assert "lat" not in fixes_of(found)
    assert found.notes == ["'lat' is named like a latitude but its values (0..1000) are outside -90..90"]
    assert verdicts(found)[WMS] == (False, False)
    assert verdicts(found)[EDR] == (False, False)  # no Y axis either
    assert verdicts(found)[TILES] == (False, False)


def test_without_latitude_and_longitude_only_edr_and_tiles_can_be_fixed() -> None:
    ds = xr.Dataset(
        {"v": (("y", "x"), np.ones((3, 4)))},
        coords={"y": [0.0, 1.0, 2.0], "x": [0.0, 1.0, 2.0, 3.0]},
    )
    found = diagnose(ds)
    # nothing says whether x and y are degrees or metres: only the axes are guessed
    assert fixes_of(found) == {"x": {"axis": "X"}, "y": {"axis": "Y"}}
    assert verdicts(found) == {
        EDR: (False, True),
        WMS: (False, False),
        TILES: (False, True),
        DAP2: (True, True),
        ZARR: (True, True),
    }
    stations = xr.Dataset({"v": (("station",), np.ones(3))}, coords={"station": [1, 2, 3]})
    found = diagnose(stations)
    assert found.fixes == []
    assert verdicts(found) == {
        EDR: (False, False),
        WMS: (False, False),
        TILES: (False, False),
        DAP2: (True, True),
        ZARR: (True, True),
    }


def test_a_projected_grid_with_a_grid_mapping_serves_tiles_and_gets_projection_axes() -> None:
    ds = xr.Dataset(
        {
            "elevation": (("y", "x"), np.zeros((3, 4), "float32"), {"grid_mapping": "spatial_ref"}),
            "spatial_ref": ((), 0, {"grid_mapping_name": "transverse_mercator", "crs_wkt": "..."}),
        },
        coords={
            "y": [5_500_000.0, 5_499_000.0, 5_498_000.0],
            "x": [400_000.0, 401_000.0, 402_000.0, 403_000.0],
        },
    )
    found = diagnose(ds)
    assert found.grid_mappings == ["spatial_ref"]
    assert verdicts(found) == {
        EDR: (False, True),
        WMS: (False, False),
        TILES: (True, True),
        DAP2: (True, True),
        ZARR: (True, True),
    }
    assert fixes_of(found) == {
        "x": {"axis": "X", "standard_name": "projection_x_coordinate"},
        "y": {"axis": "Y", "standard_name": "projection_y_coordinate"},
    }
    assert found.fixes[0].reason.endswith("the dataset has a grid mapping")
    assert with_fixes(ds, found).cf.axes == {"X": ["x"], "Y": ["y"]}

    # a variable called crs, linked from nowhere, counts too; and metres alone make x and y projected
    crs = xr.Dataset(
        {"v": (("y", "x"), np.ones((2, 2))), "crs": ((), 0)},
        coords={"y": ("y", [0.0, 1.0], {"units": "m"}), "x": ("x", [0.0, 1.0], {"units": "m"})},
    )
    found = diagnose(crs)
    assert found.grid_mappings == ["crs"] and verdicts(found)[TILES] == (True, True)
    assert fixes_of(found)["x"] == {"axis": "X", "standard_name": "projection_x_coordinate"}


def test_a_time_that_is_not_datetime64_blocks_the_protocols_that_select_by_time() -> None:
    numeric = gridded(cf=True).assign_coords(
        time=("time", np.arange(4), {"axis": "T", "standard_name": "time"})
    )
    found = diagnose(numeric)
    problem = (
        "time coordinate 'time' is int64 without CF time units, not datetime64 (store datetimes, or give it "
        "CF units such as 'hours since 2000-01-01' and a standard calendar)"
    )
    assert found.notes == [problem]
    assert verdicts(found) == {
        EDR: (False, False),
        WMS: (False, False),
        TILES: (False, False),
        DAP2: (True, True),
        ZARR: (True, True),
    }
    assert found.check(WMS).reasons == [problem] and found.fixes == []

    # named like a time, no attributes: still a time
    unnamed = gridded(cf=True).assign_coords(time=np.arange(4.0))
    assert diagnose(unnamed).check(EDR).reasons[0].startswith("time coordinate 'time' is float64")

    noleap = xr.decode_cf(
        xr.Dataset(
            {"v": (("time",), np.ones(3))},
            coords={"time": ("time", [0, 1, 2], {"units": "days since 2000-01-01", "calendar": "noleap"})},
        ),
        decode_times=xr.coders.CFDatetimeCoder(use_cftime=True),
    )
    found = diagnose(noleap)
    assert (
        found.check(EDR)
        .reasons[-1]
        .startswith("time coordinate 'time' is cftime dates in the 'noleap' calendar, not datetime64")
    )


def test_no_data_variables_is_not_a_dataset() -> None:
    with pytest.raises(NotADatasetError, match="no data variables"):
        diagnose(xr.Dataset(coords={"lat": [1.0, 2.0]}))


# ------------------------------------------------------------------------------------ in an Icechunk repo


def committed(ds: xr.Dataset, group: str | None = None) -> tuple[icechunk.Repository, str]:
    repo = icechunk.Repository.create(icechunk.in_memory_storage())
    session = repo.writable_session("main")
    ds.to_zarr(session.store, group=group, mode="w", consolidated=False, zarr_format=3)
    return repo, session.commit("data")


def test_apply_fixes_commits_attributes_and_no_chunk() -> None:
    source = gridded(cf=False)
    repo, before = committed(source, group="weather/daily")
    session = repo.writable_session("main")
    found = diagnose(open_dataset(session.store, "weather/daily"))
    assert verdicts(found)[EDR] == (False, True)
    after = apply_fixes(session, found.fixes, "weather/daily")

    snapshot = next(iter(repo.ancestry(snapshot_id=after)))
    assert snapshot.parent_id == before and snapshot.message == fix_message(found.fixes, "weather/daily")
    assert snapshot.message.startswith("repo doctor: add CF attributes in weather/daily: ")
    assert "lat (axis=Y, standard_name=latitude, units=degrees_north)" in snapshot.message
    diff = repo.diff(from_snapshot_id=before, to_snapshot_id=after)
    assert diff.updated_chunks == {}  # metadata only
    assert diff.updated_arrays == {f"/weather/daily/{name}" for name in ("lat", "lon", "time", "level")}

    reopened = open_dataset(repo.readonly_session(snapshot_id=after).store, "weather/daily")
    assert reopened.lat.attrs == {"axis": "Y", "standard_name": "latitude", "units": "degrees_north"}
    assert reopened.level.attrs == {"units": "hPa", "axis": "Z", "standard_name": "air_pressure"}
    assert verdicts(diagnose(reopened)) == ALL_GOOD
    xr.testing.assert_identical(reopened.drop_attrs(), source.drop_attrs())
    with pytest.raises(ValueError, match="nothing to fix"):
        apply_fixes(repo.writable_session("main"), [], "weather/daily")


def test_apply_fixes_leaves_attributes_set_since_the_diagnosis() -> None:
    repo, _ = committed(gridded(cf=False))
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="lat", mode="r+").update_attributes({"units": "degree_N"})
    fix = AttributeFix(variable="lat", attributes={"axis": "Y", "units": "degrees_north"}, reason="test")
    after = apply_fixes(session, [fix])
    attrs = zarr.open_array(repo.readonly_session(snapshot_id=after).store, path="lat").attrs
    assert (attrs["units"], attrs["axis"]) == ("degree_N", "Y")


def test_open_dataset_says_what_is_not_there() -> None:
    repo, _ = committed(gridded(cf=True), group="full")
    session = repo.writable_session("main")
    root = zarr.open_group(session.store)
    root.create_group("empty")
    root.create_group("plain").create_array("a", shape=(3,), dtype="f4")  # no dimension names
    session.commit("more")
    store = repo.readonly_session(branch="main").store
    with pytest.raises(FileNotFoundError, match="there is no group 'missing'"):
        open_dataset(store, "missing")
    with pytest.raises(FileNotFoundError, match="there is no group 'full/temp'"):
        open_dataset(store, "full/temp")  # an array, not a group
    with pytest.raises(NotADatasetError, match="group 'empty' holds no arrays: not a dataset"):
        open_dataset(store, "empty")
    with pytest.raises(NotADatasetError, match="xarray cannot read group 'plain' as a dataset"):
        open_dataset(store, "plain")
    with pytest.raises(NotADatasetError, match="the root group holds no arrays"):
        open_dataset(store)
    empty = icechunk.Repository.create(icechunk.in_memory_storage())
    with pytest.raises(FileNotFoundError, match="no root group: nothing has been written yet"):
        open_dataset(empty.readonly_session(branch="main").store)
    ds: Any = open_dataset(store, "full")
    assert ds.temp.shape == (4, 2, 5, 8) and ds.chunks == {}  # lazy, without Dask


def test_without_xarray_the_doctor_says_which_extra_to_install() -> None:
    code = (
        "import sys\nsys.modules['xarray'] = None\n"
        "from arraylake.client.doctor import open_dataset\n"
        "try:\n    open_dataset(None)\nexcept ImportError as exc:\n    print(exc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "the dataset doctor needs xarray: pip install 'arraylake-open[xarray]'"
