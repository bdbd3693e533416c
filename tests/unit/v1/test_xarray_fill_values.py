"""Fill values between xarray on zarr-python 3 and the draft documents xarray on zarr-python 2 writes.

The seed-era client (xarray on zarr-python 2) reads a draft ``fill_value`` as ``_FillValue`` and masks with
it; xarray on zarr-python 3 masks with an encoded ``_FillValue`` attribute only. The drafts below are what
zarr-python 2.18 with xarray 2024.9 wrote for the same variables (``zarr_version=3``).
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr
from zarr.storage import MemoryStore

from arraylake.repos.v1 import metadata as md

TIMES = pd.date_range("2024-01-01", periods=4, freq="h")
NAN_B64 = base64.standard_b64encode(struct.pack("<d", np.nan)).decode()


def _b64(value: float) -> str:
    return base64.standard_b64encode(struct.pack("<d", value)).decode()


def dataset() -> xr.Dataset:
    """Float, int, datetime and string variables, with and without ``_FillValue`` (set in ``ENCODING``)."""
    return xr.Dataset(
        {
            "f": ("x", np.array([1.0, np.nan, 3.0, 4.0], "f4")),
            "f_fv": ("x", np.array([1.0, np.nan, 3.0, 4.0], "f8")),
            "i": ("x", np.array([0, 1, 2, 3], "i8")),
            "i_fv": ("x", np.array([0, np.nan, 2, 3], "f8")),
            "s": ("x", np.array(["a", "b", "", "d"], object)),
            "dt_nat": ("x", np.array([TIMES[0], np.datetime64("NaT", "ns"), TIMES[2], TIMES[3]], "M8[ns]")),
        },
        coords={"time": ("time", TIMES)},
        attrs={"title": "fills"},
    )


ENCODING = {"f_fv": {"_FillValue": -9999.0}, "i_fv": {"_FillValue": -1, "dtype": "i4"}}

SEED_FILLS = {
    "f": "NaN",  # xarray's default _FillValue for floats
    "f_fv": -9999.0,
    "i": None,
    "i_fv": -1,
    "s": None,
    "dt_nat": None,
    "time": None,  # zarr 3 would say 0, which the seed client masks as the first time step
}


def _written_by_xarray_on_zarr3(ds: xr.Dataset, encoding: dict[str, Any]) -> MemoryStore:
    store = MemoryStore()
    ds.to_zarr(store, zarr_format=3, consolidated=False, encoding=encoding)
    return store


def _array_docs(store: MemoryStore) -> dict[str, dict[str, Any]]:
    docs = {
        key.removesuffix("/zarr.json"): json.loads(value.to_bytes())
        for key, value in store._store_dict.items()
        if key.endswith("/zarr.json")
    }
    return {name: doc for name, doc in docs.items() if md.is_array_doc(doc)}


def _through_the_draft(store: MemoryStore) -> MemoryStore:
    """The store as our client reads it back from a V1 repo: every array doc to the draft and back."""
    for name, doc in _array_docs(store).items():
        zarr3 = md.array_from_draft(md.array_to_draft(doc))
        store._store_dict[f"{name}/zarr.json"] = store._store_dict[f"{name}/zarr.json"].from_bytes(
            json.dumps(zarr3).encode()
        )
    return store


def _seed_draft(data_type: Any, fill_value: Any, **attributes: Any) -> dict[str, Any]:
    """An array document as xarray on zarr-python 2 writes it into a V1 repo."""
    return {
        "attributes": {"_ARRAY_DIMENSIONS": ["x"], **attributes},
        "chunk_grid": {"chunk_shape": [4], "separator": "/", "type": "regular"},
        "chunk_memory_layout": "C",
        "data_type": data_type,
        "extensions": [],
        "fill_value": fill_value,
        "shape": [4],
    }


def test_xarray_on_zarr3_writes_the_drafts_of_the_seed_client() -> None:
    drafts = {
        name: md.array_to_draft(doc)
        for name, doc in _array_docs(_written_by_xarray_on_zarr3(dataset(), ENCODING)).items()
    }
    assert {name: draft["fill_value"] for name, draft in drafts.items()} == SEED_FILLS
    for name, draft in drafts.items():
        assert md.FILL_VALUE not in draft["attributes"], name  # the seed client never keeps it there


def test_what_our_client_writes_decodes_alike_when_it_reads_it_back() -> None:
    ds = dataset()
    store = _through_the_draft(_written_by_xarray_on_zarr3(ds, ENCODING))
    back = xr.open_zarr(store, consolidated=False).load()
    assert back["time"].values[0] == TIMES[0]
    xr.testing.assert_identical(back.drop_vars("s"), ds.drop_vars("s"))
    assert list(back["s"].values) == list(ds["s"].values)
    assert back["i_fv"].encoding["_FillValue"] == -1
    assert back["f_fv"].encoding["_FillValue"] == -9999.0


@pytest.mark.parametrize(
    ("draft", "fill_value", "attribute"),
    [
        (_seed_draft("<f4", "NaN"), "NaN", NAN_B64),
        (_seed_draft("<f8", -9999.0), -9999.0, _b64(-9999.0)),
        (_seed_draft("<i8", None), 0, None),
        (_seed_draft("<i4", -1), -1, -1),
        (_seed_draft("<u2", 7), 7, 7),
        (_seed_draft("i1", None, dtype="bool"), 0, None),
        (_seed_draft("<c16", ["NaN", 1.0]), ["NaN", 1.0], [NAN_B64, _b64(1.0)]),
        (_seed_draft("<i8", None, units="hours since 2024-01-01"), 0, None),
        (_seed_draft(md.OBJECT_DTYPE, None, filters=[{"id": "vlen-utf8"}]), "", None),
        # xarray on zarr-python 3 refuses a _FillValue attribute on a string array: zarr's fill only
        (_seed_draft(md.OBJECT_DTYPE, "zz", filters=[{"id": "vlen-utf8"}]), "zz", None),
    ],
)
def test_seed_drafts_as_xarray_on_zarr3_expects_them(draft: Any, fill_value: Any, attribute: Any) -> None:
    doc = md.array_from_draft(draft)
    assert doc["fill_value"] == fill_value
    assert doc["attributes"].get(md.FILL_VALUE) == attribute
    assert md.array_to_draft(doc)["fill_value"] == draft["fill_value"]
    assert md.FILL_VALUE not in md.array_to_draft(doc)["attributes"]


def _written_by_the_seed_client(arrays: dict[str, tuple[dict[str, Any], np.ndarray]]) -> MemoryStore:
    """What our client sees of seed-written drafts, holding the values xarray on zarr-python 2 encoded."""
    store = MemoryStore()
    zarr.open_group(store, mode="w", zarr_format=3)
    for name, (draft, encoded) in arrays.items():
        doc = md.array_from_draft(draft)
        store._store_dict[f"{name}/zarr.json"] = (
            zarr.core.buffer.default_buffer_prototype().buffer.from_bytes(json.dumps(doc).encode())
        )
        zarr.open_array(store, path=name, mode="r+")[...] = encoded
    return store


def test_seed_written_missing_values_are_masked_by_our_client() -> None:
    hours = "hours since 2024-01-01 00:00:00"
    nat = np.iinfo("i8").min
    store = _written_by_the_seed_client(
        {
            "f": (_seed_draft("<f4", "NaN"), np.array([1.0, np.nan, 3.0, 4.0], "f4")),
            "f_fv": (_seed_draft("<f8", -9999.0), np.array([1.0, -9999.0, 3.0, 4.0])),
            "i": (_seed_draft("<i8", None), np.array([0, 1, 2, 3])),
            "i_fv": (_seed_draft("<i4", -1), np.array([0, -1, 2, 3], "i4")),
            "dt": (_seed_draft("<i8", None, units=hours, calendar="proleptic_gregorian"), np.arange(4)),
            "dt_nat": (
                _seed_draft("<i8", None, units=hours, calendar="proleptic_gregorian"),
                np.array([0, nat, 2, 3]),
            ),
            "dt_fv": (_seed_draft("<i8", -1, units=hours), np.array([0, -1, 2, 3])),
        }
    )
    ds = xr.open_zarr(store, consolidated=False).load()
    # as the seed client decodes them
    np.testing.assert_array_equal(ds["f"].values, [1.0, np.nan, 3.0, 4.0])
    np.testing.assert_array_equal(ds["f_fv"].values, [1.0, np.nan, 3.0, 4.0])
    assert ds["i"].dtype == np.int64
    np.testing.assert_array_equal(ds["i"].values, [0, 1, 2, 3])
    np.testing.assert_array_equal(ds["i_fv"].values, [0.0, np.nan, 2.0, 3.0])
    np.testing.assert_array_equal(ds["dt"].values, TIMES.values)
    masked = np.array([TIMES[0], np.datetime64("NaT", "ns"), TIMES[2], TIMES[3]], "M8[ns]")
    np.testing.assert_array_equal(ds["dt_nat"].values, masked)
    np.testing.assert_array_equal(ds["dt_fv"].values, masked)


def test_plain_zarr_arrays_keep_their_fill_value() -> None:
    store = MemoryStore()
    zarr.create_array(store, name="a", shape=(3,), dtype="i4", fill_value=5, attributes={"_FillValue": 1})
    doc = json.loads(store._store_dict["a/zarr.json"].to_bytes())
    draft = md.array_to_draft(doc)
    assert draft["fill_value"] == 5
    assert draft["attributes"] == {"_FillValue": 1}  # not xarray's: an attribute like any other
    back = md.array_from_draft(draft)
    assert back["fill_value"] == 5
    assert back["attributes"] == {"_FillValue": 1}


def test_a_fill_attribute_not_encoded_by_xarray_stays_an_attribute() -> None:
    store = MemoryStore()
    zarr.create_array(
        store, name="a", shape=(3,), dtype="f4", dimension_names=["x"], attributes={"_FillValue": [1, 2]}
    )
    draft = md.array_to_draft(json.loads(store._store_dict["a/zarr.json"].to_bytes()))
    assert draft["fill_value"] is None
    assert draft["attributes"]["_FillValue"] == [1, 2]


@pytest.mark.parametrize(
    ("dtype", "attribute", "fill_value"),
    [
        ("f4", NAN_B64, "NaN"),
        ("f4", "Infinity", "Infinity"),
        ("f8", 2.5, 2.5),
        ("i2", -32768, -32768),
        ("u1", 255.0, 255),
        ("bool", True, True),
        ("c8", [_b64(1.0), _b64(-2.0)], [1.0, -2.0]),
        ("str", "zz", "zz"),
    ],
)
def test_xarray_fill_attributes_become_the_draft_fill(dtype: str, attribute: Any, fill_value: Any) -> None:
    store = MemoryStore()
    zarr.create_array(
        store, name="a", shape=(3,), dtype=dtype, dimension_names=["x"], attributes={"_FillValue": attribute}
    )
    draft = md.array_to_draft(json.loads(store._store_dict["a/zarr.json"].to_bytes()))
    assert draft["fill_value"] == fill_value
    assert md.FILL_VALUE not in draft["attributes"]
