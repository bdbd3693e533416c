"""Our OPeNDAP DAP2 plugin under xpublish, read by clients we did not write: netCDF-C (``netCDF4``), pydap,
and xarray through both; values compared one by one with the data in the Icechunk repo."""

from __future__ import annotations

import gc
import struct
import sys
import warnings
import weakref
from collections.abc import Iterator
from pathlib import Path

import dask.array as da
import httpx
import icechunk
import netCDF4
import numpy as np
import pytest
import xarray as xr
import xpublish
from pydap.client import open_url

from arraylake.dataplane.dap2 import Dap2Plugin, xdr
from arraylake.dataplane.dap2.constraint import parse_constraint
from arraylake.dataplane.dap2.model import dap_dataset
from arraylake.dataplane.limits import Limits
from arraylake.dataplane.protocols import protocol_plugin
from arraylake.types.compute import ServiceType
from tests.dataplane.conftest import cf_dataset, commit_dataset, open_snapshot, serve
from tests.support.processes import ManagedProcess, free_port, http_ok, wait_until

Committed = tuple[icechunk.Repository, str, xr.Dataset]

# Strided and multi-dimensional hyperslabs; (time 6, lat 18, lon 36).
SELECTIONS = [
    (slice(None), slice(None), slice(None)),
    (slice(1, 5, 2), slice(None, None, 3), slice(4, 20, 5)),
    (slice(0, 6, 5), slice(17, 18), slice(0, 36, 7)),
    (slice(2, 3), slice(3, 11), slice(10, 30)),
    (4, slice(0, 18, 4), 35),
]


def dap_url(base: str, dataset_id: str = "ds") -> str:
    return f"{base}/datasets/{dataset_id}/opendap"


@pytest.fixture(scope="module")
def source(committed: Committed) -> xr.Dataset:
    """What the repo holds, read directly with xarray from Icechunk."""
    repo, snapshot, _ = committed
    return open_snapshot(repo, snapshot).load()


@pytest.fixture(scope="module")
def url(committed: Committed) -> Iterator[str]:
    """The committed dataset over DAP2, with tiny blocks so that responses are streamed in several."""
    repo, snapshot, _ = committed
    plugin = Dap2Plugin(block_bytes=1000, max_response_bytes=4000)
    with serve(xpublish.Rest({"ds": open_snapshot(repo, snapshot)}, plugins={"opendap": plugin}).app) as base:
        yield dap_url(base)


def typed_dataset() -> xr.Dataset:
    """The CF dataset with missing values, and variables of every type DAP2 must carry or widen."""
    rng = np.random.default_rng(7)
    ds = cf_dataset(seed=1)
    air = ds["air"].values.copy()
    air[0, :3, :4] = np.nan
    air[5, 10:, 30:] = np.nan
    ds["air"] = ds["air"].copy(data=air)
    shape2 = (18, 36)
    dims2 = ("lat", "lon")
    ds["i8"] = (dims2, rng.integers(-128, 128, shape2).astype("int8"))
    ds["u8"] = (dims2, rng.integers(0, 256, shape2).astype("uint8"))
    ds["i16"] = (dims2, rng.integers(-(2**15), 2**15, shape2).astype("int16"))
    ds["u16"] = (dims2, rng.integers(0, 2**16, shape2).astype("uint16"))
    ds["i32"] = (dims2, rng.integers(-(2**31), 2**31, shape2).astype("int32"))
    ds["u32"] = (dims2, rng.integers(0, 2**32, shape2).astype("uint32"))
    ds["i64"] = (dims2, rng.integers(-(2**52), 2**52, shape2).astype("int64"))
    ds["f64"] = (dims2, rng.normal(0, 1e6, shape2))
    ds["flag"] = (dims2, rng.integers(0, 2, shape2).astype(bool))
    ds["packed"] = (("time", "lat", "lon"), (ds["air"].values - 250).astype("float64"))
    ds["packed"].encoding = {"dtype": "int16", "scale_factor": 0.01, "add_offset": 0.0, "_FillValue": -32768}
    ds["station"] = ("lon", np.array([f'st-{i} "q"' for i in range(36)], dtype=object))
    ds["crs"] = ((), np.int32(0), {"grid_mapping_name": "latitude_longitude"})
    ds["level"] = ((), np.uint8(7))  # served as Int16: the clients read a padded Byte from opposite ends
    ds["empty"] = (("none",), np.zeros(0, "float32"))
    ds["air"].attrs["grid_mapping"] = "crs"
    ds.attrs.update(
        {"count": 3, "ratio": 0.25, "levels": [1, 2, 3], "nested": {"a": [1, 2]}, "quoted": 'say "hi" \\ now'}
    )
    return ds


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, xr.Dataset]]:
    repo, snapshot = commit_dataset(tmp_path_factory.mktemp("typed") / "repo", typed_dataset())
    dataset = open_snapshot(repo, snapshot)
    with serve(xpublish.Rest({"typed": dataset}, plugins={"opendap": Dap2Plugin()}).app) as base:
        yield dap_url(base, "typed"), open_snapshot(repo, snapshot).load()


def pydap_open(url: str) -> xr.Dataset:
    """The dataset through xarray's pydap backend, lazily (pydap warns that an http URL could be DAP4)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PyDAP was unable to determine the DAP protocol")
        return xr.open_dataset(url, engine="pydap")


def assert_same_dataset(got: xr.Dataset, expected: xr.Dataset) -> None:
    assert set(got.variables) == set(expected.variables)
    for name, var in expected.variables.items():
        assert got[name].dims == var.dims, name
        np.testing.assert_array_equal(got[name].values, var.values, err_msg=str(name))


# --- netCDF-C -------------------------------------------------------------------------------------------


def test_netcdf_c_reads_structure_attributes_and_whole_variables(url: str, source: xr.Dataset) -> None:
    with netCDF4.Dataset(url) as nc:
        assert nc.title == "synthetic test data"
        assert {d: len(nc.dimensions[d]) for d in nc.dimensions} == {"time": 6, "lat": 18, "lon": 36}
        air = nc["air"]
        assert air.dimensions == ("time", "lat", "lon")
        assert (air.units, air.standard_name, air.dtype) == ("K", "air_temperature", np.float32)
        assert air._FillValue == np.float32(-9999.0)
        np.testing.assert_array_equal(air[:], source["air"].values)
        np.testing.assert_array_equal(nc["wind"][:], source["wind"].values)
        np.testing.assert_array_equal(nc["lat"][:], source["lat"].values)
        np.testing.assert_array_equal(nc["lon"][:], source["lon"].values)
        times = netCDF4.num2date(nc["time"][:], nc["time"].units, nc["time"].calendar)
        assert [t.isoformat() for t in times] == [str(t)[:19] for t in source["time"].values.astype("M8[s]")]


@pytest.mark.parametrize("selection", SELECTIONS, ids=str)
def test_netcdf_c_strided_and_multidimensional_slices(
    url: str, source: xr.Dataset, selection: tuple[int | slice, ...]
) -> None:
    with netCDF4.Dataset(url) as nc:
        np.testing.assert_array_equal(nc["air"][selection], source["air"].values[selection])
        np.testing.assert_array_equal(nc["lat"][selection[1]], source["lat"].values[selection[1]])


def test_xarray_over_netcdf_c_decodes_like_the_source(url: str, source: xr.Dataset) -> None:
    with xr.open_dataset(url, engine="netcdf4") as remote:
        assert_same_dataset(remote.load(), source)
        assert remote["time"].dtype.kind == "M"
        strided = remote.isel(time=slice(1, 5, 2), lat=slice(None, None, 3), lon=slice(4, 20, 5)).load()
    expected = source.isel(time=slice(1, 5, 2), lat=slice(None, None, 3), lon=slice(4, 20, 5))
    assert_same_dataset(strided, expected)


# --- pydap ----------------------------------------------------------------------------------------------


def test_pydap_reads_structure_attributes_and_slices(url: str, source: xr.Dataset) -> None:
    remote = open_url(url, protocol="dap2")
    assert set(remote.keys()) == {"air", "wind", "time", "lat", "lon"}
    assert remote["air"].attributes["units"] == "K"
    assert remote["time"].attributes["units"].startswith("hours since 2024-01-01")
    assert remote.attributes["title"] == "synthetic test data"
    for selection in SELECTIONS:
        got = np.asarray(remote["air"][selection].data)
        np.testing.assert_array_equal(
            got.reshape(source["air"].values[selection].shape), source["air"].values[selection]
        )


def test_xarray_over_pydap_decodes_like_the_source(url: str, source: xr.Dataset) -> None:
    assert_same_dataset(pydap_open(url).load(), source)


# --- types, fill values, strings, scalars ------------------------------------------------------------


def test_every_type_masked_values_strings_and_scalars_through_both_clients(
    typed: tuple[str, xr.Dataset],
) -> None:
    url, source = typed
    grids = ("i8", "u8", "i16", "u16", "i32", "u32", "i64", "f64", "flag")
    for lazy in (xr.open_dataset(url, engine="netcdf4"), pydap_open(url)):
        for name in grids:  # 15 elements: Byte arrays need padding
            part = lazy[name][1:4, 3:8].load()
            np.testing.assert_array_equal(part.values, source[name][1:4, 3:8].values, err_msg=name)
        remote = lazy.load()
        for name in (*grids, "air", "packed", "crs", "level"):
            np.testing.assert_array_equal(remote[name].values, source[name].values, err_msg=name)
        assert np.isnan(remote["air"].values[0, :3, :4]).all()
        assert np.isnan(remote["packed"].values[5, 10:, 30:]).all()
        # netCDF-C hands strings over as character arrays, which xarray joins into bytes
        stations = [s.decode() if isinstance(s, bytes) else str(s) for s in remote["station"].values]
        assert stations == list(source["station"].values)
        assert remote["air"].attrs["grid_mapping"] == "crs"
        assert remote["crs"].attrs["grid_mapping_name"] == "latitude_longitude"
        assert "empty" not in remote  # netCDF-C would drop it, pydap asks for [0:1:2**63-2] of it
    with netCDF4.Dataset(url) as nc:
        # netCDF-C reads DAP2 into the classic model: unsigned types arrive signed, marked _Unsigned
        assert {
            n: (nc[n].dtype, getattr(nc[n], "_Unsigned", None)) for n in ("i8", "u8", "u16", "u32", "i64")
        } == {
            "i8": (np.int16, None),  # DAP2's Byte is unsigned: int8 widens
            "u8": (np.int8, "true"),
            "u16": (np.int16, "true"),
            "u32": (np.int32, "true"),
            "i64": (np.float64, None),  # no 64-bit integers in DAP2
        }
        assert nc["packed"].dtype == np.int16 and nc["packed"].scale_factor == 0.01
        assert (nc.count, nc.ratio, list(nc.levels), nc.quoted) == (3, 0.25, [1, 2, 3], 'say "hi" \\ now')


# --- the wire, constraints and limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "lat%5B1:4:17%5D,time%5B2%5D",  # as netCDF-C and pydap send it
        "lat[1:4:17],time[2]",
        "lat%5B1%3A4%3A17%5D%2Ctime%5B2%5D=",  # as a proxy re-encoding key=value pairs passes it on
    ],
)
def test_dods_is_the_projected_dds_then_xdr(url: str, source: xr.Dataset, query: str) -> None:
    response = httpx.get(f"{url}.dods?{query}")
    assert response.status_code == 200
    assert response.headers["content-description"] == "dods_data"
    assert int(response.headers["content-length"]) == len(response.content)
    dds, data = response.content.split(b"\nData:\n", 1)
    assert dds.decode().split("\n")[1:3] == ["    Float64 lat[lat = 5];", "    Float64 time[time = 1];"]
    assert struct.unpack(">ii", data[:8]) == (5, 5)
    np.testing.assert_array_equal(np.frombuffer(data[8:48], ">f8"), source["lat"].values[1:18:4])
    assert struct.unpack(">ii", data[48:56]) == (1, 1)
    assert np.frombuffer(data[56:], ">f8").tolist() == [12.0]  # hours since 2024-01-01
    assert httpx.get(f"{url}.dds?air[0:1:5][2][3:2:9]").text.split("\n")[1] == (
        "    Float32 air[time = 6][lat = 1][lon = 4];"
    )


@pytest.mark.parametrize(
    ("constraint", "complaint"),
    [
        ("nope", "no variable 'nope'"),
        ("air[0:0:5]", "stride must be at least 1"),
        ("air[0:1:6]", "out of range"),
        ("air[0][0][36]", "out of range"),
        ("air[5:1:2]", "before the start"),
        ("air[0][0][0][0]", "3 dimension(s)"),
        ("air[0:1", "cannot parse"),
        ("air[a:b]", "expected [i]"),
        ("air[-1]", "expected [i]"),
        ("air,air[0]", "projected twice"),
        ("lat,nope[0]", "no variable 'nope'"),
        ("air&air>250", "selections are not supported"),
    ],
)
def test_bad_constraints_are_refused_before_any_data(url: str, constraint: str, complaint: str) -> None:
    for suffix in (".dods", ".dds"):
        response = httpx.get(f"{url}{suffix}?{constraint}")
        assert response.status_code == 400, (constraint, response.text)
        assert complaint in response.json()["detail"]


def test_the_front_door_builds_this_plugin_with_its_limits() -> None:
    plugin = protocol_plugin(ServiceType.DAP2, Limits(max_response_bytes=1000, max_stream_bytes=5000))
    assert isinstance(plugin, Dap2Plugin)
    assert (plugin.max_response_bytes, plugin.max_stream_bytes) == (1000, 5000)


def test_too_large_a_download_is_refused_with_413(committed: Committed) -> None:
    repo, snapshot, _ = committed
    plugin = Dap2Plugin(max_stream_bytes=2000)
    with serve(xpublish.Rest({"ds": open_snapshot(repo, snapshot)}, plugins={"opendap": plugin}).app) as base:
        url = dap_url(base)
        refused = httpx.get(f"{url}.dods?air")
        assert refused.status_code == 413
        assert "2.0 KiB" in refused.json()["detail"] and "ask for less" in refused.json()["detail"]
        assert httpx.get(f"{url}.dods?air[0][0:1:17][0:1:9]").status_code == 200
        with netCDF4.Dataset(url) as nc:  # metadata is not limited
            assert nc["air"].shape == (6, 18, 36)


# --- streaming ------------------------------------------------------------------------------------------

BIG = (64, 1024, 1024)  # float32: 256 MiB


def big_values(flat: np.ndarray) -> np.ndarray:
    """The values of the big dataset at flat (C-order) indices: cheap to recompute, not constant."""
    t, rest = np.divmod(flat, BIG[1] * BIG[2])
    y, x = np.divmod(rest, BIG[2])
    return ((t * 7 + y * 3 + x) % 1000).astype("float32")


def big_dataset() -> xr.Dataset:
    """256 MiB made lazily by Dask, chunked 16 MiB along time."""
    nt, ny, nx = BIG
    t = da.arange(nt, chunks=4, dtype="int64")[:, None, None]
    y = da.arange(ny, chunks=ny, dtype="int64")[None, :, None]
    x = da.arange(nx, chunks=nx, dtype="int64")[None, None, :]
    ds = xr.Dataset({"v": (("t", "y", "x"), ((t * 7 + y * 3 + x) % 1000).astype("float32"))})
    ds["v"].encoding = {"chunks": (4, ny, nx)}
    return ds


def peak_rss(pid: int) -> int:
    """The process's peak resident memory so far (bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


def test_a_large_download_streams_with_bounded_memory(tmp_path: Path) -> None:
    commit_dataset(tmp_path / "big", big_dataset())
    port = free_port()
    server = ManagedProcess(
        [sys.executable, str(Path(__file__).with_name("dap2_server.py")), str(tmp_path / "big"), str(port)],
        tmp_path / "server.log",
    )
    server.start()
    try:
        url = f"http://127.0.0.1:{port}/datasets/big/opendap"
        wait_until(lambda: http_ok(f"{url}.dds"), 120, "the DAP2 server")
        assert httpx.get(f"{url}.dods?v[0][0][0:1:9]", timeout=60).status_code == 200  # warm
        assert server.proc is not None
        before = peak_rss(server.proc.pid)
        size = 4 * BIG[0] * BIG[1] * BIG[2]
        checked = 0
        with httpx.stream("GET", f"{url}.dods?v", timeout=120) as response:
            assert response.status_code == 200
            assert int(response.headers["content-length"]) > size
            buffer = b""
            for chunk in response.iter_bytes():
                buffer += chunk
                # the header is read once the two length words after it have arrived (a chunk may end
                # anywhere, even between them)
                marker = buffer.find(b"\nData:\n")
                if checked == 0 and marker >= 0 and len(buffer) >= marker + len(b"\nData:\n") + 8:
                    dds, buffer = buffer.split(b"\nData:\n", 1)
                    assert b"Float32 v[t = 64][y = 1024][x = 1024];" in dds
                    assert struct.unpack(">ii", buffer[:8]) == (size // 4, size // 4)
                    buffer, checked = buffer[8:], -1
                if checked != 0 and len(buffer) >= 4:
                    usable = len(buffer) - len(buffer) % 4
                    start = max(checked, 0)
                    got = np.frombuffer(buffer[:usable], ">f4")
                    np.testing.assert_array_equal(got, big_values(np.arange(start, start + got.size)))
                    buffer, checked = buffer[usable:], start + got.size
        assert checked == size // 4 and buffer == b""
        growth = peak_rss(server.proc.pid) - before
        assert growth < size / 2, (
            f"the server grew by {growth / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB download"
        )
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("constraint", "block_bytes", "max_block_bytes"),
    [
        # rows of t are 364 bytes, rows of y 52, elements 4; chunks of t (3, 1, 4, 3), of y (2, 5)
        ("v", 1456, 1456),  # blocks along t joining chunks of t
        ("v", 364, 364),  # one row of t per block: chunks of t cut
        ("v", 104, 104),  # blocks along y, chunks of y cut to two rows
        ("v", 104, 10_000),  # blocks along y, a chunk of y kept whole
        ("v", 40, 40),  # blocks along x
        ("v[1:3:10][2:2:6][0:5:12]", 30, 30),
        ("v[10][0:1:6][3:4:12]", 8, 8),
        ("v[0:9:10][6][12]", 1, 1),
    ],
)
def test_blocks_cover_any_hyperslab_in_order(constraint: str, block_bytes: int, max_block_bytes: int) -> None:
    """The .dods data section, whatever the block sizes and however they fall on irregular Dask chunks,
    is the hyperslab in C order."""
    values = np.arange(11 * 7 * 13, dtype="float32").reshape(11, 7, 13)
    lazy = da.from_array(values, chunks=((3, 1, 4, 3), (2, 5), (13,)))
    dataset = xr.Dataset({"v": (("t", "y", "x"), lazy)})
    projections = parse_constraint(constraint, dap_dataset(dataset))
    plan = xdr.plan(projections, block_bytes=block_bytes, max_response_bytes=max_block_bytes)
    expected = values[projections[0].slices]
    for prefetch_bytes in (0, block_bytes, 2**30):  # never, some blocks, every block computed ahead
        body = b"".join(bytes(part) for part in xdr.stream(b"", plan, prefetch_bytes=prefetch_bytes))
        assert body == b"".join(bytes(part) for part in xdr.stream(b"", plan)), prefetch_bytes
    assert len(body) == plan.nbytes == 8 + expected.nbytes
    assert struct.unpack(">ii", body[:8]) == (expected.size, expected.size)
    np.testing.assert_array_equal(np.frombuffer(body[8:], ">f4").reshape(expected.shape), expected)


def test_the_dap2_view_of_a_dataset_lives_as_long_as_the_dataset() -> None:
    dataset = cf_dataset()
    view = dap_dataset(dataset)
    assert dap_dataset(dataset) is view
    assert dap_dataset(dataset.copy()) is not view  # another snapshot is another object
    kept = weakref.ref(view)
    del dataset, view
    gc.collect()
    assert kept() is None
