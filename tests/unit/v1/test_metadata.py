"""Zarr 3 keys and documents against the Zarr v3 draft layout of V1 repos."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import zarr
from zarr.codecs import BloscCodec, GzipCodec

from arraylake.repos.v1 import metadata as md

SPEC_ARRAY = {
    "attributes": {"_ARRAY_DIMENSIONS": ["y", "x"], "units": "m"},
    "chunk_grid": {"chunk_shape": [2, 3], "separator": "/", "type": "regular"},
    "chunk_memory_layout": "C",
    "compressor": {
        "codec": "https://purl.org/zarr/spec/codec/blosc/1.0",
        "configuration": {"blocksize": 0, "clevel": 5, "cname": "lz4", "shuffle": 1},
    },
    "data_type": "<f4",
    "extensions": [],
    "fill_value": 0.0,
    "shape": [4, 6],
}


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("a/b/c/0/1", "data/root/a/b/c0/1"),
        ("x/c/3", "data/root/x/c3"),
        ("c/0", "data/root/c0"),
        ("g/c/3/c/0", "data/root/g/c/3/c0"),
    ],
)
def test_chunk_keys_both_ways(key: str, path: str) -> None:
    assert md.chunk_doc(key) == path
    assert md.zarr3_key(path) == key


def test_a_scalar_chunk_is_c0() -> None:
    assert md.chunk_doc("x/c") == "data/root/x/c0"


def test_metadata_keys() -> None:
    assert md.node_path("zarr.json") == ""
    assert md.node_path("a/b/zarr.json") == "a/b"
    assert md.node_path("a/b/c/0") is None
    assert md.meta_docs("") == ("meta/root.group.json", "meta/root.array.json")
    assert md.meta_docs("a/b") == ("meta/root/a/b.group.json", "meta/root/a/b.array.json")
    assert md.zarr3_key("meta/root/foo/bar.array.json") == "foo/bar/zarr.json"
    assert md.zarr3_key("meta/root.group.json") == "zarr.json"


def test_a_key_that_is_no_chunk() -> None:
    with pytest.raises(KeyError):
        md.chunk_doc("a/b/.zattrs")


def test_the_spec_array_reads_as_zarr3() -> None:
    doc = md.array_from_draft(SPEC_ARRAY)
    assert doc["dimension_names"] == ["y", "x"]
    # xarray on zarr-python 2 masks with the draft fill, so xarray on zarr-python 3 must see it too
    assert doc["attributes"] == {"units": "m", "_FillValue": "AAAAAAAAAAA="}
    assert doc["fill_value"] == 0.0
    assert doc["data_type"] == "float32"
    assert doc["codecs"] == [
        {"name": "bytes", "configuration": {"endian": "little"}},
        {
            "name": "blosc",
            "configuration": {
                "blocksize": 0,
                "clevel": 5,
                "cname": "lz4",
                "shuffle": "shuffle",
                "typesize": 4,
            },
        },
    ]
    assert doc["chunk_key_encoding"] == {"name": "default", "configuration": {"separator": "/"}}
    assert md.array_to_draft(doc) == SPEC_ARRAY


def test_group_documents() -> None:
    assert md.group_to_draft({"zarr_format": 3, "node_type": "group", "attributes": {"a": 1}}) == {
        "attributes": {"a": 1}
    }
    assert md.group_from_draft({"attributes": {}}) == {
        "zarr_format": 3,
        "node_type": "group",
        "attributes": {},
    }


def _written(**kwargs: Any) -> dict[str, Any]:
    store = zarr.storage.MemoryStore()
    zarr.create_array(store, name="a", **kwargs)
    doc = json.loads(store._store_dict["a/zarr.json"].to_bytes())
    doc.pop("storage_transformers", None)
    return doc  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "kwargs",
    [
        {
            "shape": (4, 6),
            "chunks": (2, 3),
            "dtype": "f4",
            "dimension_names": ["y", "x"],
            "fill_value": np.nan,
            "attributes": {"_FillValue": "AAAAAAAA+H8="},  # as xarray writes NaN
        },
        {"shape": (4, 6), "chunks": (2, 3), "dtype": "f4", "fill_value": np.nan},
        {"shape": (3,), "dtype": str},
        {"shape": (), "dtype": "i8", "compressors": None},
        {
            "shape": (5,),
            "dtype": "M8[ns]",
            "compressors": BloscCodec(cname="zstd", shuffle="bitshuffle"),
        },
        {"shape": (5,), "dtype": "u1", "compressors": GzipCodec(level=3)},
        {"shape": (5,), "dtype": "c16", "attributes": {"units": "K"}},
    ],
)
def test_zarr3_documents_survive_the_draft(kwargs: dict[str, Any]) -> None:
    doc = _written(**kwargs)
    assert md.array_from_draft(md.array_to_draft(doc)) == doc


def test_strings_are_object_arrays_with_a_vlen_filter() -> None:
    draft = md.array_to_draft(_written(shape=(3,), dtype=str))
    assert draft["data_type"] == md.OBJECT_DTYPE
    assert draft["attributes"]["filters"] == [{"id": "vlen-utf8"}]


def test_nan_fill_values_are_text() -> None:
    assert md.array_to_draft(_written(shape=(3,), dtype="f8", fill_value=np.nan))["fill_value"] == "NaN"


def test_big_endian_draft_arrays() -> None:
    doc = md.array_from_draft({**SPEC_ARRAY, "data_type": ">i2", "fill_value": 3})
    assert doc["codecs"][0] == {"name": "bytes", "configuration": {"endian": "big"}}
    assert doc["data_type"] == "int16"
    assert md.array_to_draft(doc)["data_type"] == ">i2"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"shape": (4,), "chunks": (2,), "shards": (4,), "dtype": "f4"},
        {"shape": (4,), "dtype": "f4", "chunk_key_encoding": {"name": "v2", "separator": "."}},
    ],
)
def test_what_the_draft_cannot_hold_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(md.UnsupportedMetadataError):
        md.array_to_draft(_written(**kwargs))
