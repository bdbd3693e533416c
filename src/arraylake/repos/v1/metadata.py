"""Between zarr-python 3's keys and documents (final Zarr v3) and the V1 key space (the Zarr v3 draft).

Zarr 3 asks for ``a/b/zarr.json`` and chunk keys ``a/b/c/0/1``; V1 keeps ``meta/root/a/b.group.json`` or
``meta/root/a/b.array.json`` and chunks ``data/root/a/b/c0/1``. Array documents are rewritten both ways:
the draft's numpy ``data_type`` plus ``compressor`` and ``attributes.filters`` are the final format's
``data_type``, ``fill_value`` and ``codecs``.

Fill values of xarray's arrays (those with dimension names) follow xarray rather than zarr. xarray on
zarr-python 2, which wrote V1 repos, keeps ``_FillValue`` in the draft ``fill_value`` (``null`` for none) and
masks with it; xarray on zarr-python 3 keeps an encoded ``_FillValue`` attribute and ignores zarr's
``fill_value``. Moving the one into the other makes both decode a dataset alike.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

import numpy as np

ENTRY_POINT = {
    "zarr_format": "https://purl.org/zarr/spec/core/3.0",
    "metadata_encoding": "https://purl.org/zarr/spec/core/3.0",
    "metadata_key_suffix": ".json",
    "extensions": [],
}
"""The draft's ``zarr.json``: never stored, always there."""

META_ROOT = "meta/root"
DATA_ROOT = "data/root/"
GROUP_SUFFIX = ".group.json"
ARRAY_SUFFIX = ".array.json"
ZARR_JSON = "zarr.json"
OBJECT_DTYPE = {"extension": "TODO: object array protocol URL", "fallback": None, "type": "|O"}
CODEC_URL = "https://purl.org/zarr/spec/codec/{}/1.0"
_NATIVE_CODECS = ("blosc", "zstd", "gzip")
_SHUFFLES = ("noshuffle", "shuffle", "bitshuffle")
_VLEN = {"vlen-utf8": "string", "vlen-bytes": "variable_length_bytes"}
FILL_VALUE = "_FillValue"
DIMENSIONS = "_ARRAY_DIMENSIONS"
_XARRAY_FILL_KINDS = "biufc"
"""The dtype kinds whose ``_FillValue`` xarray on zarr-python 3 can encode and decode."""


class UnsupportedMetadataError(ValueError):
    """A Zarr 3 feature the draft format of V1 repos cannot express (sharding, transposes, ...)."""


# ------------------------------------------------------------------------------------------------- keys


def _plain(value: Any) -> Any:
    """JSON's view of a value: tuples (complex fill values) are lists."""
    return list(value) if isinstance(value, tuple) else value


def node_path(key: str) -> str | None:
    """The node of a zarr 3 metadata key (``a/b/zarr.json`` -> ``a/b``, ``zarr.json`` -> ``""``)."""
    if key == ZARR_JSON:
        return ""
    if key.endswith("/" + ZARR_JSON):
        return key[: -len(ZARR_JSON) - 1]
    return None


def meta_docs(node: str) -> tuple[str, str]:
    """The group and the array document of a node, one of which may exist."""
    base = f"{META_ROOT}/{node}" if node else META_ROOT
    return base + GROUP_SUFFIX, base + ARRAY_SUFFIX


def chunk_doc(key: str) -> str:
    """The V1 chunk key of a zarr 3 chunk key: ``a/b/c/0/1`` -> ``data/root/a/b/c0/1`` (``a/c`` -> ``c0``)."""
    parts = key.split("/")
    end = len(parts)
    while end > 0 and parts[end - 1].isdigit():
        end -= 1
    if end == 0 or parts[end - 1] != "c":
        raise KeyError(key)
    array = parts[: end - 1]
    index = parts[end:] or ["0"]
    return DATA_ROOT + "/".join([*array, "c" + index[0], *index[1:]])


def zarr3_key(path: str) -> str | None:
    """The zarr 3 key of a V1 document path (``None`` for keys zarr 3 has no name for)."""
    if path.startswith(DATA_ROOT):
        parts = path[len(DATA_ROOT) :].split("/")
        for i in range(len(parts) - 1, -1, -1):
            if (
                parts[i].startswith("c")
                and parts[i][1:].isdigit()
                and all(p.isdigit() for p in parts[i + 1 :])
            ):
                return "/".join([*parts[:i], "c", parts[i][1:], *parts[i + 1 :]])
        return None
    for suffix in (GROUP_SUFFIX, ARRAY_SUFFIX):
        if path.endswith(suffix) and path.startswith(META_ROOT):
            node = path[len(META_ROOT) : -len(suffix)].lstrip("/")
            return f"{node}/{ZARR_JSON}" if node else ZARR_JSON
    return None


def meta_dir(prefix: str) -> str:
    """The metadata directory of a zarr 3 prefix (``a/b/`` -> ``meta/root/a/b/``)."""
    return f"{META_ROOT}/{prefix}" if prefix else f"{META_ROOT}/"


# ---------------------------------------------------------------------------------------- fill values


def _float_from_xarray(value: Any) -> float:
    if isinstance(value, str):
        try:
            number: float = struct.unpack("<d", base64.b64decode(value, validate=True))[0]
            return number
        except (binascii.Error, struct.error):
            pass  # "NaN", "Infinity" and plain numbers as text
    return float(value)


def _float_to_xarray(value: Any) -> str:
    return base64.standard_b64encode(struct.pack("<d", float(value))).decode()


def _fill_from_xarray(value: Any, kind: str) -> Any:
    """The scalar of the ``_FillValue`` attribute xarray on zarr-python 3 wrote for a dtype of ``kind``."""
    if kind == "f":
        return _float_from_xarray(value)
    if kind == "c":
        real, imag = value
        return complex(_float_from_xarray(real), _float_from_xarray(imag))
    if kind in "iu":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(value)
        return int(value)
    if kind == "b":
        return bool(value)
    if kind == "T" and isinstance(value, str):
        return value
    raise ValueError(value)


def _fill_to_xarray(scalar: Any, kind: str) -> Any:
    """``scalar`` as the ``_FillValue`` attribute xarray on zarr-python 3 decodes for a dtype of ``kind``."""
    if kind == "f":
        return _float_to_xarray(scalar)
    if kind == "c":
        return [_float_to_xarray(scalar.real), _float_to_xarray(scalar.imag)]
    if kind == "b":
        return bool(scalar)
    return int(scalar)


def _draft_fill_scalar(doc: dict[str, Any], attributes: dict[str, Any], zdtype: Any) -> Any:
    """The scalar, or None, that becomes the draft ``fill_value``; pops an xarray ``_FillValue`` it used."""
    own = zdtype.from_json_scalar(doc.get("fill_value"), zarr_format=3)
    xarray_array = doc.get("dimension_names") is not None or DIMENSIONS in attributes
    if not xarray_array:
        return own
    if attributes.get(FILL_VALUE) is None:
        attributes.pop(FILL_VALUE, None)
        kind = zdtype.to_native_dtype().kind
        default = zdtype.to_json_scalar(zdtype.default_scalar(), zarr_format=3)
        if kind not in _XARRAY_FILL_KINDS and doc.get("fill_value") != default:
            # a draft fill read from a string array, which xarray on zarr 3 cannot take as _FillValue
            return own
        # what xarray on zarr-python 2 writes when there is no _FillValue; zarr 3's own fill (0 for
        # integers) would be read there as one and mask real values
        return None
    try:
        scalar = _fill_from_xarray(attributes[FILL_VALUE], zdtype.to_native_dtype().kind)
    except (ValueError, TypeError, OverflowError):
        return None  # not xarray's encoding: an attribute like any other, kept as it is
    del attributes[FILL_VALUE]
    return scalar


# -------------------------------------------------------------------------------------------- documents


def is_array_doc(doc: dict[str, Any]) -> bool:
    return doc.get("node_type") == "array"


def group_to_draft(doc: dict[str, Any]) -> dict[str, Any]:
    return {"attributes": dict(doc.get("attributes") or {})}


def group_from_draft(doc: dict[str, Any]) -> dict[str, Any]:
    return {"zarr_format": 3, "node_type": "group", "attributes": dict(doc.get("attributes") or {})}


def _codec_id(name: str) -> str:
    return name.removeprefix("numcodecs.")


def _compressor_to_draft(codec: dict[str, Any]) -> dict[str, Any]:
    name, config = codec["name"], dict(codec.get("configuration") or {})
    if name == "blosc":
        config.pop("typesize", None)
        shuffle = config.get("shuffle", "noshuffle")
        config["shuffle"] = _SHUFFLES.index(shuffle) if isinstance(shuffle, str) else shuffle
        config.setdefault("blocksize", 0)
    elif name in ("crc32c", "sharding_indexed"):
        raise UnsupportedMetadataError(f"codec {name!r} cannot be stored in a V1 repo")
    return {"codec": CODEC_URL.format(_codec_id(name)), "configuration": config}


def _compressor_from_draft(compressor: dict[str, Any], itemsize: int) -> dict[str, Any]:
    codec_id = compressor["codec"].rstrip("/").split("/")[-2]
    config = dict(compressor.get("configuration") or {})
    if codec_id == "blosc":
        shuffle = config.get("shuffle", 1)
        config["shuffle"] = _SHUFFLES[shuffle] if isinstance(shuffle, int) and shuffle >= 0 else "shuffle"
        config["typesize"] = itemsize
        return {"name": "blosc", "configuration": config}
    return {
        "name": codec_id if codec_id in _NATIVE_CODECS else f"numcodecs.{codec_id}",
        "configuration": config,
    }


def array_to_draft(doc: dict[str, Any]) -> dict[str, Any]:
    """A zarr 3 array document as the draft's ``.array.json``."""
    from zarr.core.dtype import get_data_type_from_json

    grid = doc["chunk_grid"]
    if grid.get("name") != "regular":
        raise UnsupportedMetadataError(f"chunk grid {grid.get('name')!r} cannot be stored in a V1 repo")
    encoding = doc.get("chunk_key_encoding") or {"name": "default"}
    separator = (encoding.get("configuration") or {}).get("separator", "/")
    if encoding.get("name") != "default" or separator != "/":
        raise UnsupportedMetadataError("V1 repos keep chunks under the default '/'-separated chunk keys")
    if doc.get("storage_transformers"):
        raise UnsupportedMetadataError("storage transformers cannot be stored in a V1 repo")
    attributes = dict(doc.get("attributes") or {})
    filters: list[dict[str, Any]] = []
    compressor: dict[str, Any] | None = None
    endian = "little"
    vlen = None
    seen_bytes = False
    for codec in doc.get("codecs") or []:
        name, config = codec["name"], codec.get("configuration") or {}
        if name == "bytes":
            endian, seen_bytes = config.get("endian") or "little", True
        elif name in _VLEN:
            vlen, seen_bytes = name, True
            filters.append({"id": name})
        elif not seen_bytes:
            if not name.startswith("numcodecs."):
                raise UnsupportedMetadataError(f"codec {name!r} cannot be stored in a V1 repo")
            filters.append({"id": _codec_id(name), **config})
        elif compressor is None:
            compressor = _compressor_to_draft(codec)
        else:
            raise UnsupportedMetadataError("V1 repos keep at most one compressor per array")
    zdtype = get_data_type_from_json(doc["data_type"], zarr_format=3)
    fill = _draft_fill_scalar(doc, attributes, zdtype)
    if vlen is not None:
        data_type: Any = dict(OBJECT_DTYPE)
        fill_value: Any = fill if isinstance(fill, str) else None
    else:
        native = zdtype.to_native_dtype()
        data_type = (
            native.newbyteorder("<" if endian == "little" else ">").str if native.itemsize > 1 else native.str
        )
        fill_value = (
            None if fill is None else _plain(zdtype.to_json_scalar(zdtype.cast_scalar(fill), zarr_format=2))
        )
    if filters:
        attributes["filters"] = filters
    if doc.get("dimension_names") is not None:
        attributes[DIMENSIONS] = list(doc["dimension_names"])
    draft: dict[str, Any] = {
        "attributes": attributes,
        "chunk_grid": {
            "chunk_shape": list(grid["configuration"]["chunk_shape"]),
            "separator": "/",
            "type": "regular",
        },
        "chunk_memory_layout": "C",
        "data_type": data_type,
        "extensions": [],
        "fill_value": fill_value,
        "shape": list(doc["shape"]),
    }
    if compressor is not None:
        draft["compressor"] = compressor
    return draft


def array_from_draft(doc: dict[str, Any]) -> dict[str, Any]:
    """A draft ``.array.json`` as a zarr 3 array document."""
    from zarr.core.dtype import get_data_type_from_json, get_data_type_from_native_dtype

    attributes = dict(doc.get("attributes") or {})
    filters = attributes.pop("filters", None) or []
    dims = attributes.pop(DIMENSIONS, None)
    if doc.get("chunk_memory_layout", "C") != "C":
        raise UnsupportedMetadataError("only C-ordered chunks are supported")
    codecs: list[dict[str, Any]] = []
    bytes_codec: dict[str, Any] | None = None
    for flt in filters:
        flt = dict(flt)
        codec_id = flt.pop("id")
        if codec_id in _VLEN:
            bytes_codec = {"name": codec_id, "configuration": {}}
        else:
            codecs.append({"name": f"numcodecs.{codec_id}", "configuration": flt})
    raw_type = doc["data_type"]
    fill = doc.get("fill_value")
    if isinstance(raw_type, dict):  # an object array: strings or bytes, by their filter
        if bytes_codec is None:
            raise UnsupportedMetadataError("object arrays without a vlen-utf8 or vlen-bytes filter")
        data_type: Any = _VLEN[bytes_codec["name"]]
        zdtype = get_data_type_from_json(data_type, zarr_format=3)
        fill_value = (
            fill if fill is not None else zdtype.to_json_scalar(zdtype.default_scalar(), zarr_format=3)
        )
        itemsize = 1
    else:
        native = np.dtype(raw_type)
        if native.kind == "U":
            raise UnsupportedMetadataError("fixed-length unicode arrays are not supported")
        endian = "big" if native.byteorder == ">" else "little"
        zdtype = get_data_type_from_native_dtype(native.newbyteorder("="))
        data_type = zdtype.to_json(zarr_format=3)
        scalar = zdtype.from_json_scalar(fill, zarr_format=2) if fill is not None else zdtype.default_scalar()
        fill_value = _plain(zdtype.to_json_scalar(scalar, zarr_format=3))
        # xarray on zarr-python 2 masks with a non-null draft fill, so ours must see it as _FillValue; for
        # other kinds (strings, datetimes) xarray on zarr-python 3 refuses any _FillValue attribute
        if dims is not None and fill is not None and native.kind in _XARRAY_FILL_KINDS:
            attributes[FILL_VALUE] = _fill_to_xarray(scalar, native.kind)
        itemsize = native.itemsize
        bytes_codec = (
            {"name": "bytes", "configuration": {"endian": endian}} if itemsize > 1 else {"name": "bytes"}
        )
    codecs.append(bytes_codec)
    if doc.get("compressor"):
        codecs.append(_compressor_from_draft(doc["compressor"], itemsize))
    grid = doc["chunk_grid"]
    result: dict[str, Any] = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(doc["shape"]),
        "data_type": data_type,
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(grid["chunk_shape"])}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": grid.get("separator", "/")}},
        "fill_value": fill_value,
        "codecs": codecs,
        "attributes": attributes,
    }
    if dims is not None:
        result["dimension_names"] = dims
    return result
