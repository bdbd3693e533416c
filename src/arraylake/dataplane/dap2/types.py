"""DAP2 atomic types: which numpy dtypes map to which, and how their values look on the wire and in a DAS."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class DapType:
    """One DAP2 atomic type: its name in a DDS/DAS and the big-endian dtype of its values in XDR.

    XDR has no 8- or 16-bit integers: Int16/UInt16 travel as 32-bit integers, and Byte arrays travel as
    opaque bytes padded to a multiple of four (a Byte scalar takes four bytes)."""

    name: str
    wire: np.dtype | None  # None for String

    @property
    def is_string(self) -> bool:
        return self.wire is None

    @property
    def is_unsigned(self) -> bool:
        return self.wire is not None and self.wire.kind == "u"


BYTE = DapType("Byte", np.dtype("u1"))
INT16 = DapType("Int16", np.dtype(">i4"))
UINT16 = DapType("UInt16", np.dtype(">u4"))
INT32 = DapType("Int32", np.dtype(">i4"))
UINT32 = DapType("UInt32", np.dtype(">u4"))
FLOAT32 = DapType("Float32", np.dtype(">f4"))
FLOAT64 = DapType("Float64", np.dtype(">f8"))
STRING = DapType("String", None)

_BY_KIND_SIZE: dict[tuple[str, int], DapType] = {
    ("b", 1): BYTE,  # bool
    ("u", 1): BYTE,
    ("i", 1): INT16,  # DAP2's Byte is unsigned: int8 widens to Int16
    ("i", 2): INT16,
    ("u", 2): UINT16,
    ("i", 4): INT32,
    ("u", 4): UINT32,
    # DAP2 has no 64-bit integers. Float64 holds every integer up to 2**53 exactly (all realistic time
    # offsets and counts) and, unlike "Int32 when the values fit", never needs a scan of the data to
    # write the DDS, nor changes type when the data changes.
    ("i", 8): FLOAT64,
    ("u", 8): FLOAT64,
    ("f", 2): FLOAT32,
    ("f", 4): FLOAT32,
    ("f", 8): FLOAT64,
}


def dap_type(dtype: np.dtype) -> DapType | None:
    """The DAP2 type that carries values of ``dtype``; None when DAP2 cannot (complex, raw datetimes)."""
    if dtype.kind in "SUOT":  # T: numpy's variable-width StringDType, as Zarr 3 strings are read
        return STRING
    return _BY_KIND_SIZE.get((dtype.kind, dtype.itemsize))


def attribute_type(value: object) -> DapType:
    """The DAP2 type of an attribute value (a scalar, or the elements of a list or array)."""
    values = np.asarray(value)
    if values.dtype.kind in "SUOT":
        return STRING
    if values.dtype.kind in "iu" and values.dtype.itemsize == 8:
        # Python ints arrive as int64: keep them integers when they fit.
        if values.size and np.all((values >= -(2**31)) & (values < 2**31)):
            return INT32
        return FLOAT64
    return dap_type(values.dtype) or STRING


def format_number(value: object, type_: DapType) -> str:
    """A number as a DAS literal of ``type_`` (``NaN``, ``Inf`` and ``-Inf`` for the special floats)."""
    if type_ in (FLOAT32, FLOAT64):
        number = float(value)  # type: ignore[arg-type]
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Inf" if number > 0 else "-Inf"
        return str(np.float32(number)) if type_ is FLOAT32 else repr(number)
    return str(int(value))  # type: ignore[call-overload]


def quote_string(value: object) -> str:
    """A DAS string literal: double-quoted, with ``\\`` and ``"`` escaped."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
