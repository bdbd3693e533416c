"""CoverageJSON (https://covjson.org) of a selection: a ``Coverage`` (``Grid`` for areas; ``PointSeries``,
``Point`` or ``VerticalProfile`` for a position) or a ``CoverageCollection`` for a MULTIPOINT."""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
import xarray as xr

from .axes import iso_times
from .select import POINT_DIM, Selection

MEDIA_TYPE = "application/prs.coverage+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_ROLE_ORDER = ("t", "z", "y", "x")


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


def _referencing(has_t: bool, has_z: bool) -> list[dict[str, Any]]:
    systems: list[dict[str, Any]] = [
        {"coordinates": ["x", "y"], "system": {"type": "GeographicCRS", "id": CRS84}},
    ]
    if has_t:
        systems.append({"coordinates": ["t"], "system": {"type": "TemporalRS", "calendar": "Gregorian"}})
    if has_z:
        systems.append({"coordinates": ["z"], "system": {"type": "VerticalCRS"}})
    return systems


class _RawValues:
    """Number lists written as text by numpy (short, exact float32 repr) and spliced into the document."""

    def __init__(self) -> None:
        self._token = uuid.uuid4().hex
        self._texts: list[str] = []

    def add(self, values: np.ndarray) -> str:
        flat = np.asarray(values).ravel()
        if flat.dtype == bool:
            flat = flat.astype("int8")
        text = flat.astype(str)
        if np.issubdtype(flat.dtype, np.floating):
            text = np.where(np.isfinite(flat), text, "null")
        self._texts.append("[" + ",".join(text.tolist()) + "]")
        return f"{self._token}:{len(self._texts) - 1}"

    def dumps(self, document: dict[str, Any]) -> bytes:
        out = json.dumps(document, separators=(",", ":"))
        for i, text in enumerate(self._texts):
            out = out.replace(f'"{self._token}:{i}"', text, 1)
        return out.encode()


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


def _coverage(selection: Selection, data: xr.Dataset, raw: _RawValues) -> dict[str, Any]:
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
            "values": raw.add(var.values),
        }
    domain_type = _domain_type(selection, None if t is None else len(t), None if z is None else len(z))
    return {
        "type": "Coverage",
        "domain": {"type": "Domain", "domainType": domain_type, "axes": domain_axes},
        "ranges": ranges,
    }


def coverage_json(selection: Selection) -> bytes:
    """The CoverageJSON document of a loaded selection."""
    data, axes = selection.data, selection.axes
    raw = _RawValues()
    parameters = {str(name): parameter(var, str(name)) for name, var in data.data_vars.items()}
    referencing = _referencing(axes.t in data.coords, axes.z in data.coords)
    if selection.multipoint:
        coverages = [
            _coverage(selection, data.isel({POINT_DIM: i}), raw) for i in range(data.sizes[POINT_DIM])
        ]
        document: dict[str, Any] = {
            "type": "CoverageCollection",
            "domainType": coverages[0]["domain"]["domainType"],
            "parameters": parameters,
            "referencing": referencing,
            "coverages": coverages,
        }
    else:
        document = _coverage(selection, data, raw)
        document["domain"]["referencing"] = referencing
        document["parameters"] = parameters
    return raw.dumps(document)
