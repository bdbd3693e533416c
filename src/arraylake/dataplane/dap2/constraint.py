"""DAP2 constraint expressions: projections of whole variables or hyperslabs, validated before any data is
read. ``[start:stride:stop]`` has an INCLUSIVE stop; ``[start:stop]`` has stride 1; ``[i]`` is one index."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from fastapi import HTTPException

from arraylake.dataplane.dap2.model import DapDataset, DapVariable

_ITEM = re.compile(r"(?P<name>[^\[\]]+)(?P<slabs>(?:\[[^\[\]]*\])*)")
_SLAB = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"\s*\d+\s*")


@dataclass(frozen=True, slots=True)
class Projection:
    """One projected variable and, per dimension, the Python slice of the source it takes."""

    variable: DapVariable
    slices: tuple[slice, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(range(s.start, s.stop, s.step)) for s in self.slices)


def bad_constraint(detail: str) -> HTTPException:
    return HTTPException(status_code=400, detail=f"Invalid DAP2 constraint expression: {detail}")


def parse_constraint(query: str, dataset: DapDataset) -> list[Projection]:
    """The projections of the (URL-encoded) query string, in the dataset's order; every variable when the
    projection is empty. Raises a 400 naming what is wrong: selections, unknown variables, malformed or
    out-of-range hyperslabs, a stride of 0."""
    expression = unquote(query)
    projection, amp, selection = expression.partition("&")
    if amp:
        raise HTTPException(
            status_code=400,
            detail=f"DAP2 selections are not supported by this service (got '&{selection}'); "
            "project variables and hyperslabs only, e.g. air[0:1:9][0:2:10][0:2:20]",
        )
    # A proxy that re-encodes the query as key=value pairs turns "air[0:1:5]" into "air[0:1:5]=".
    projection = projection.removesuffix("=")
    if not projection.strip():
        return [Projection(v, tuple(slice(0, n, 1) for n in v.shape)) for v in dataset.variables.values()]
    chosen: dict[str, Projection] = {}
    for item in projection.split(","):
        item = item.strip()
        match = _ITEM.fullmatch(item)
        if match is None:
            raise bad_constraint(f"cannot parse {item!r}; expected name or name[start:stride:stop]...")
        name = match["name"].strip()
        variable = dataset.variables.get(name) or dataset.variables.get(unquote(name))
        if variable is None:
            raise bad_constraint(f"no variable {name!r} in this dataset")
        if variable.name in chosen:
            raise bad_constraint(f"variable {name!r} is projected twice")
        chosen[variable.name] = Projection(variable, _slices(variable, _SLAB.findall(match["slabs"])))
    return [chosen[name] for name in dataset.variables if name in chosen]


def _slices(variable: DapVariable, slabs: list[str]) -> tuple[slice, ...]:
    if len(slabs) > len(variable.shape):
        raise bad_constraint(
            f"{variable.name} has {len(variable.shape)} dimension(s), the constraint gives {len(slabs)}"
        )
    slices = [_slice(variable, axis, slab) for axis, slab in enumerate(slabs)]
    slices += [slice(0, n, 1) for n in variable.shape[len(slabs) :]]
    return tuple(slices)


def _slice(variable: DapVariable, axis: int, slab: str) -> slice:
    parts = slab.split(":")
    where = f"{variable.name}[{slab}] (dimension {variable.dims[axis]})"
    if len(parts) > 3 or not all(_INDEX.fullmatch(p) for p in parts):
        raise bad_constraint(f"{where}: expected [i], [start:stop] or [start:stride:stop] with integers")
    numbers = [int(p) for p in parts]
    if len(numbers) == 1:
        start, stride, stop = numbers[0], 1, numbers[0]
    elif len(numbers) == 2:
        start, stride, stop = numbers[0], 1, numbers[1]
    else:
        start, stride, stop = numbers
    size = variable.shape[axis]
    if stride == 0:
        raise bad_constraint(f"{where}: the stride must be at least 1")
    if stop < start:
        raise bad_constraint(f"{where}: the stop ({stop}) is before the start ({start})")
    if stop >= size:
        raise bad_constraint(f"{where}: index {stop} is out of range, the dimension has {size} elements")
    return slice(start, stop + 1, stride)
