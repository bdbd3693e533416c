"""The text responses of DAP2: the DDS (structure) and the DAS (attributes)."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from arraylake.dataplane.dap2.model import VALUE_ATTRIBUTES, DapDataset, DapVariable
from arraylake.dataplane.dap2.types import STRING, DapType, attribute_type, format_number, quote_string

DATASET_NAME = "dataset"
_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "_-!~*'")


def escape_name(name: str) -> str:
    """A DAP2 identifier: characters outside DAP2's word characters are %-escaped (UTF-8)."""
    return "".join(c if c in _NAME_CHARS else "".join(f"%{b:02X}" for b in c.encode()) for c in name)


def declaration(var: DapVariable, shape: tuple[int, ...]) -> str:
    """``Float32 air[time = 6][lat = 18];`` for ``var`` with (projected) ``shape``."""
    dims = "".join(f"[{escape_name(d)} = {n}]" for d, n in zip(var.dims, shape, strict=True))
    return f"{var.type.name} {escape_name(var.name)}{dims};"


def render_dds(declarations: Iterable[str]) -> str:
    body = "".join(f"    {line}\n" for line in declarations)
    return f"Dataset {{\n{body}}} {DATASET_NAME};\n"


def dataset_dds(dataset: DapDataset) -> str:
    return render_dds(declaration(v, v.shape) for v in dataset.variables.values())


def render_das(dataset: DapDataset) -> str:
    lines = ["Attributes {"]
    for var in dataset.variables.values():
        lines.append(f"    {escape_name(var.name)} {{")
        for key, value in var.attrs.items():
            type_ = var.type if key in VALUE_ATTRIBUTES and not var.type.is_string else None
            lines.append(f"        {_attribute(key, value, type_)}")
        lines.append("    }")
    lines.append("    NC_GLOBAL {")
    lines.extend(f"        {_attribute(k, v, None)}" for k, v in dataset.attrs.items())
    lines.append("    }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _attribute(key: str, value: Any, type_: DapType | None) -> str:
    nested = isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple)) for v in value)
    if isinstance(value, Mapping) or nested:  # JSON in Zarr attributes: DAP2 has no such type
        value = json.dumps(value, default=str)
    values = np.atleast_1d(np.asarray(value, dtype=object if isinstance(value, str) else None))
    type_ = type_ or attribute_type(values)
    if type_ is STRING:
        literals = [quote_string(v) for v in values.ravel()] or ['""']
    else:
        literals = [format_number(v, type_) for v in values.ravel()]
    if not literals:
        literals = ['""']
        type_ = STRING
    return f"{type_.name} {escape_name(str(key))} {', '.join(literals)};"
