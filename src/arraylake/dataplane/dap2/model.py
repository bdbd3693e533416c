"""The DAP2 view of an xarray Dataset: its variables CF-encoded (lazily), so that clients decode CF
themselves (times as numbers with ``units``/``calendar``, ``_FillValue``, ``scale_factor``)."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from xpublish.utils.api import DATASET_ID_ATTR_KEY

from arraylake.dataplane.dap2.types import BYTE, INT16, DapType, dap_type

logger = logging.getLogger(__name__)

# Attributes whose values are values of the variable, so they take the variable's DAP2 type (netCDF-C
# refuses a _FillValue whose type differs from its variable's).
VALUE_ATTRIBUTES = frozenset({"_FillValue", "missing_value", "valid_min", "valid_max", "valid_range"})


@dataclass(frozen=True, slots=True)
class DapVariable:
    """One variable as DAP2 serves it: an Array of ``type`` over named dimensions (a scalar when none)."""

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    type: DapType
    variable: xr.Variable
    """The CF-encoded variable, lazy (Dask or a lazily indexed backend array)."""
    attrs: Mapping[str, Any]

    @property
    def source_chunks(self) -> tuple[tuple[int, ...], ...] | None:
        """The Dask chunks of the variable, to read it in blocks that do not split them needlessly."""
        return self.variable.chunks


@dataclass(frozen=True, slots=True, weakref_slot=True)
class DapDataset:
    variables: dict[str, DapVariable]
    attrs: Mapping[str, Any]
    skipped: list[str] = field(default_factory=list)
    """Variables DAP2 cannot carry (complex numbers, arrays of size 0), left out of the DDS."""


_encoded: dict[int, tuple[weakref.ref[xr.Dataset], DapDataset]] = {}
_encoded_lock = threading.RLock()  # re-entered when a weakref callback runs during a collection


def dap_dataset(dataset: xr.Dataset) -> DapDataset:
    """The DAP2 view of ``dataset``, kept while the dataset lives: netCDF-C asks for one variable per
    request, and encoding every variable each time costs about half a millisecond per variable. Keyed by
    the dataset object, not its id: a new snapshot is a new object, so nothing stale is served."""
    key = id(dataset)
    with _encoded_lock:
        hit = _encoded.get(key)
    if hit is not None and hit[0]() is dataset:
        return hit[1]
    result = _encode(dataset)

    def forget(ref: weakref.ref[xr.Dataset]) -> None:
        with _encoded_lock:
            if key in _encoded and _encoded[key][0] is ref:
                del _encoded[key]

    with _encoded_lock:
        _encoded[key] = (weakref.ref(dataset, forget), result)
    return result


def _encode(dataset: xr.Dataset) -> DapDataset:
    """CF-encode ``dataset`` (nothing is computed) and type its variables for DAP2."""
    variables, attrs = xr.conventions.encode_dataset_coordinates(dataset)
    try:
        encoded, attrs = xr.conventions.cf_encoder(variables, attrs)
    except Exception:  # one variable that cannot be encoded must not hide the others
        encoded = {}
        for name, var in variables.items():
            try:
                encoded[name] = xr.conventions.encode_cf_variable(var, name=name)
            except Exception as exc:
                logger.warning("DAP2 leaves out %r: it cannot be CF-encoded (%s)", name, exc)
    result: dict[str, DapVariable] = {}
    skipped: list[str] = []
    # A stable order whatever order the store listed them in: replicas behind a load balancer answer the
    # .dds and the .dods of one client alike.
    for name in [*sorted(dataset.coords, key=str), *sorted(dataset.data_vars, key=str)]:
        if name not in encoded:
            skipped.append(str(name))
            continue
        dap_var = _dap_variable(name, encoded[name])
        if dap_var is None:
            skipped.append(str(name))
        else:
            result[dap_var.name] = dap_var
    attrs = {k: v for k, v in attrs.items() if k != DATASET_ID_ATTR_KEY}  # xpublish's internal id
    return DapDataset(result, attrs, skipped)


def _dap_variable(name: Hashable, var: xr.Variable) -> DapVariable | None:
    attrs = dict(var.attrs)
    if var.dtype == np.int8 and attrs.get("dtype") == "bool":  # xarray encodes bool as int8 0/1
        type_: DapType | None = BYTE
    else:
        type_ = dap_type(var.dtype)
    if type_ is None or 0 in var.shape:  # netCDF-C and pydap cannot read an array of size 0
        return None
    if type_ is BYTE and var.ndim == 0:
        # A Byte scalar is four bytes in XDR, the value first for pydap and last for netCDF-C (libdap's
        # xdr_char): as an Int16, which travels as a 32-bit integer, both read it alike.
        type_ = INT16
    if type_.is_unsigned and var.dtype.kind == "u":
        # netCDF-C reads DAP2 into the classic model, which has no unsigned types: it hands the bits over
        # as the signed type of the same size, and clients (netCDF4-python, xarray) undo it with this.
        attrs.setdefault("_Unsigned", "true")
    return DapVariable(
        name=str(name),
        dims=tuple(str(d) for d in var.dims),
        shape=tuple(int(n) for n in var.shape),
        type=type_,
        variable=var,
        attrs=attrs,
    )
