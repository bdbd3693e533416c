"""``_FillValue`` attributes as values a person can read.

xarray stores the ``_FillValue`` of a Zarr v3 array as the base64 of its little-endian float64 bytes (complex
numbers as a pair of those, byte strings as their base64), because JSON has no NaN. Shown as is, that is
``AAAAAAAA+H8=`` where the user wrote NaN. Special floats are spelled as Zarr v3 spells them: ``"NaN"``,
``"Infinity"``, ``"-Infinity"``.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Mapping
from typing import Any

FILL_VALUE = "_FillValue"


def _float(encoded: Any) -> float | str:
    number: float = struct.unpack("<d", base64.b64decode(encoded, validate=True))[0]
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def decode_fill_value(value: Any, dtype_kind: str) -> Any:
    """The value xarray encoded for an array whose numpy dtype has kind ``dtype_kind``; else ``value``."""
    try:
        if dtype_kind == "f" and isinstance(value, str):
            return _float(value)
        if dtype_kind == "c" and isinstance(value, list) and len(value) == 2:
            return [_float(part) for part in value]
        if dtype_kind == "S" and isinstance(value, str):
            return base64.b64decode(value, validate=True).decode("utf-8", "backslashreplace")
    except (binascii.Error, struct.error, TypeError):
        pass  # not xarray's encoding: show what is stored
    return value


def readable_attributes(attributes: Mapping[str, Any], dtype_kind: str) -> dict[str, Any]:
    """An array's attributes with ``_FillValue`` decoded."""
    readable = dict(attributes)
    if FILL_VALUE in readable:
        readable[FILL_VALUE] = decode_fill_value(readable[FILL_VALUE], dtype_kind)
    return readable
