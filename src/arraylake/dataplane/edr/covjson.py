"""CoverageJSON (https://covjson.org) of a selection: a ``Coverage`` (``Grid`` for areas; ``PointSeries``,
``Point`` or ``VerticalProfile`` for a position) or a ``CoverageCollection`` for a MULTIPOINT."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import xarray as xr

from .axes import iso_times
from .select import POINT_DIM, Selection

MEDIA_TYPE = "application/prs.coverage+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_ROLE_ORDER = ("t", "z", "y", "x")
NUMBERS_PER_BLOCK = 1 << 18


def parameter(var: xr.DataArray, name: str) -> dict[str, Any]:
    """The CoverageJSON/EDR ``Parameter`` of a variable, from its CF attributes."""
    attrs = var.attrs
    label = str(attrs.get("long_name") or attrs.get("standard_name") or name)
    observed: dict[str, Any] = {"label": {"en": label}}
    if attrs.get("standard_name"):
        observed["id"] = f"http://vocab.nerc.ac.uk/standard_name/{attrs['standard_name']}/"
    result: dict[str, Any] = {"type": "Parameter", "id": name, "observedProperty": observed}
    if attrs.get("long_name"):
        result["description"] = {"en": str(attrs["long_name"])}
    if attrs.get("units"):
        result["unit"] = {"label": {"en": str(attrs["units"])}, "symbol": str(attrs["units"])}
    return result


def _referencing(geographic: bool, has_t: bool, has_z: bool) -> list[dict[str, Any]]:
    horizontal = (
        {"type": "GeographicCRS", "id": CRS84}
        if geographic
        else {"type": "ProjectedCRS", "description": {"en": "the dataset's own X/Y coordinates"}}
    )
    systems: list[dict[str, Any]] = [{"coordinates": ["x", "y"], "system": horizontal}]
    if has_t:
        systems.append({"coordinates": ["t"], "system": {"type": "TemporalRS", "calendar": "Gregorian"}})
    if has_z:
        systems.append({"coordinates": ["z"], "system": {"type": "VerticalCRS"}})
    return systems


def number_list(values: np.ndarray, block: int = NUMBERS_PER_BLOCK) -> Iterator[bytes]:
    """A JSON list of numbers, written by numpy (shortest exact repr, so float32 stays short) a block at a
    time; NaN and infinities are ``null``."""
    flat = np.asarray(values).ravel()
    if flat.dtype == bool:
        flat = flat.astype("int8")
    floating = np.issubdtype(flat.dtype, np.floating)
    yield b"["
    for start in range(0, flat.size, block):
        part = flat[start : start + block]
        text = part.astype(str)
        if floating:
            text = np.where(np.isfinite(part), text, "null")
        yield (("," if start else "") + ",".join(text.tolist())).encode()
    yield b"]"


class _Document:
    """A JSON document whose number lists are written apart (see ``number_list``): the skeleton holds a
    token where each list goes."""

    def __init__(self) -> None:
        self._token = uuid.uuid4().hex
        self._arrays: list[np.ndarray] = []

    def values(self, values: np.ndarray) -> str:
        self._arrays.append(values)
        return f"{self._token}:{len(self._arrays) - 1}"

    def chunks(self, skeleton: dict[str, Any]) -> Iterator[bytes]:
        pieces = re.split(f'"{self._token}:(\\d+)"', json.dumps(skeleton, separators=(",", ":")))
        for i, piece in enumerate(pieces):
            if i % 2:
                yield from number_list(self._arrays[int(piece)])
            else:
                yield piece.encode()


def _axis_values(data: xr.Dataset, name: str | None) -> list[Any] | None:
    if name is None or name not in data.coords:
        return None
    values = np.atleast_1d(data[name].values)
    if np.issubdtype(values.dtype, np.datetime64) or values.dtype == object:
        return iso_times(values)
    return [float(v) for v in values.astype("float64")]


def _domain_type(selection: Selection, nt: int | None, nz: int | None) -> str:
    if selection.is_area:
        return "Grid"
    if nz is None or nz <= 1:
        return "Point" if nt is None else "PointSeries"
    # Many levels: a profile at one time; at several times only a Grid (with one x and one y) holds them.
    return "VerticalProfile" if nt is None or nt <= 1 else "Grid"


def _coverage(selection: Selection, data: xr.Dataset, doc: _Document) -> dict[str, Any]:
    axes = selection.axes
    values = {role: _axis_values(data, getattr(axes, role)) for role in _ROLE_ORDER}
    t, z = values["t"], values["z"]
    domain_axes = {role: {"values": v} for role, v in values.items() if v is not None}
    roles = axes.role_of()
    ranges: dict[str, Any] = {}
    for name, var in data.data_vars.items():
        dims = sorted(var.dims, key=lambda d: _ROLE_ORDER.index(roles[str(d)]))
        var = var.transpose(*dims)
        floating = np.issubdtype(var.dtype, np.floating)
        ranges[str(name)] = {
            "type": "NdArray",
            "dataType": "float" if floating else "integer",
            "axisNames": [roles[str(d)] for d in dims],
            "shape": list(var.shape),
            "values": doc.values(var.values),
        }
    domain_type = _domain_type(selection, None if t is None else len(t), None if z is None else len(z))
    return {
        "type": "Coverage",
        "domain": {"type": "Domain", "domainType": domain_type, "axes": domain_axes},
        "ranges": ranges,
    }


def coverage_json(selection: Selection) -> Iterator[bytes]:
    """The CoverageJSON document of a loaded selection, in pieces."""
    data, axes = selection.data, selection.axes
    doc = _Document()
    parameters = {str(name): parameter(var, str(name)) for name, var in data.data_vars.items()}
    referencing = _referencing(axes.x_is_longitude, axes.t in data.coords, axes.z in data.coords)
    if selection.multipoint:
        coverages = [
            _coverage(selection, data.isel({POINT_DIM: i}), doc) for i in range(data.sizes[POINT_DIM])
        ]
        document: dict[str, Any] = {
            "type": "CoverageCollection",
            "domainType": coverages[0]["domain"]["domainType"],
            "parameters": parameters,
            "referencing": referencing,
            "coverages": coverages,
        }
    else:
        document = _coverage(selection, data, doc)
        document["domain"]["referencing"] = referencing
        document["parameters"] = parameters
    return doc.chunks(document)
