"""Which compute protocols a dataset can serve, and the CF attributes that would let it serve more.

:func:`diagnose` looks at an ``xarray.Dataset`` (its attributes and coordinate values, never its data
variables' values) as the protocols' plugins look at it, through the CF conventions:

- EDR needs X and Y axes (coordinates with ``axis: X`` / ``axis: Y`` or a projection coordinate's
  ``standard_name``);
- WMS needs latitude and longitude (``standard_name`` or ``degrees_north`` / ``degrees_east`` units);
- Tiles needs what EDR or WMS needs, or a grid mapping (a ``grid_mapping`` attribute, a ``spatial_ref`` or
  ``crs`` variable);
- EDR, WMS and Tiles select by time, so a time coordinate must be datetime64;
- DAP2 and Zarr serve any dataset.

Recognition follows cf_xarray's criteria (what the plugins use), restated here so that the doctor needs only
xarray, not the compute extra. Where a coordinate is not recognized, its name, values and units suggest what
it is (``lat``, ``lon``, ``time``, ``level``...): those guesses become :class:`AttributeFix` es, which
:func:`apply_fixes` writes as Zarr attributes in a writable Icechunk session and commits; no data is
rewritten and no existing attribute is changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from arraylake.exceptions import ArraylakeError
from arraylake.types.compute import ServiceType

if TYPE_CHECKING:
    import icechunk
    import xarray as xr
    from zarr.abc.store import Store

#: The order in which reports list the protocols.
PROTOCOLS = (ServiceType.EDR, ServiceType.WMS, ServiceType.TILES, ServiceType.DAP2, ServiceType.ZARR)
_TIME_SENSITIVE = (ServiceType.EDR, ServiceType.WMS, ServiceType.TILES)

_LAT_UNITS = ("degree_north", "degree_N", "degreeN", "degrees_north", "degrees_N", "degreesN")
_LON_UNITS = ("degree_east", "degree_E", "degreeE", "degrees_east", "degrees_E", "degreesE")
_X_NAMES = ("projection_x_coordinate", "grid_longitude", "projection_x_angular_coordinate")
_Y_NAMES = ("projection_y_coordinate", "grid_latitude", "projection_y_angular_coordinate")
_Z_NAMES = (
    "model_level_number",
    "atmosphere_ln_pressure_coordinate",
    "atmosphere_sigma_coordinate",
    "atmosphere_hybrid_sigma_pressure_coordinate",
    "atmosphere_hybrid_height_coordinate",
    "atmosphere_sleve_coordinate",
    "ocean_sigma_coordinate",
    "ocean_s_coordinate",
    "ocean_s_coordinate_g1",
    "ocean_s_coordinate_g2",
    "ocean_sigma_z_coordinate",
    "ocean_double_sigma_coordinate",
)
_VERTICAL_NAMES = (
    "air_pressure",
    "height",
    "depth",
    "geopotential_height",
    "altitude",
    "height_above_geopotential_datum",
    "height_above_reference_ellipsoid",
    "height_above_mean_sea_level",
)


def _axis_criteria(axis: str, standard_names: tuple[str, ...], axis_type: str) -> dict[str, tuple[str, ...]]:
    return {
        "standard_name": standard_names,
        "long_name": standard_names,
        "_CoordinateAxisType": (axis_type,),
        "axis": (axis,),
        "cartesian_axis": (axis,),
        "grads_dim": (axis.lower(),),
    }


# cf_xarray's coordinate criteria: a coordinate has a role when one of its attributes has one of these values.
_CRITERIA: dict[str, dict[str, tuple[str, ...]]] = {
    "latitude": {
        "standard_name": ("latitude",),
        "long_name": ("latitude",),
        "units": _LAT_UNITS,
        "_CoordinateAxisType": ("Lat",),
    },
    "longitude": {
        "standard_name": ("longitude",),
        "long_name": ("longitude",),
        "units": _LON_UNITS,
        "_CoordinateAxisType": ("Lon",),
    },
    "X": {
        **_axis_criteria("X", _X_NAMES, "GeoX"),
        "long_name": (*_X_NAMES, "cell index along first dimension"),
    },
    "Y": {
        **_axis_criteria("Y", _Y_NAMES, "GeoY"),
        "long_name": (*_Y_NAMES, "cell index along second dimension"),
    },
    "Z": {**_axis_criteria("Z", _Z_NAMES, "GeoZ"), "_CoordinateAxisType": ("GeoZ", "Height", "Pressure")},
    "vertical": {
        "standard_name": _VERTICAL_NAMES,
        "long_name": _VERTICAL_NAMES,
        "positive": ("up", "down"),
    },
    "T": _axis_criteria("T", ("time",), "Time"),
}

_LAT_NAME = re.compile(r"(nav_)?lat(itude)?s?(_\w+)?")
_LON_NAME = re.compile(r"(nav_)?lon(gitude)?s?(_\w+)?")
_ROTATED_LAT_NAME = re.compile(r"rlat|grid_lat(itude)?")
_ROTATED_LON_NAME = re.compile(r"rlon|grid_lon(gitude)?")
_Y_NAME = re.compile(r"y|yc|y_\w+|northing|projection_y_coordinate")
_X_NAME = re.compile(r"x|xc|x_\w+|easting|projection_x_coordinate")
_TIME_NAME = re.compile(r"t|times?\d*|valid_time|date|datetime")
_DEPTH_NAME = re.compile(r"depth\w*|deptht|z_depth")
_HEIGHT_NAME = re.compile(r"height\w*|hght|altitude|alt")
_PRESSURE_NAME = re.compile(r"plev|pres(sure)?(_\w+)?|isobaric\w*|pressure_level|air_pressure")
_LEVEL_NAME = re.compile(r"z|lev|levels?|lv_\w+|model_level\w*|sigma\w*|bottom_top\w*")
_PRESSURE_UNITS = ("Pa", "hPa", "kPa", "mbar", "millibar", "millibars", "mb", "bar", "atm")
_LENGTH_UNITS = ("m", "meter", "meters", "metre", "metres", "km", "kilometer", "kilometers", "kilometre")
_DEGREE_UNITS = ("degree", "degrees", "deg", *_LAT_UNITS, *_LON_UNITS)
_GRID_MAPPING_VARIABLES = ("spatial_ref", "crs")


class NotADatasetError(ArraylakeError, ValueError):
    """The group holds no arrays that xarray can read as a dataset's variables."""


class AttributeFix(BaseModel):
    """Attributes to add to one variable (none of them is set yet), and why."""

    model_config = ConfigDict(frozen=True)

    variable: str
    attributes: dict[str, str]
    reason: str


class ProtocolCheck(BaseModel):
    """Whether a protocol can serve the dataset as it is, why not, and whether it could after the fixes."""

    model_config = ConfigDict(frozen=True)

    protocol: ServiceType
    compatible: bool
    reasons: list[str]
    compatible_after_fix: bool


class Diagnosis(BaseModel):
    """What the doctor found: the coordinates by CF role, the grid mappings, the protocols, the fixes."""

    model_config = ConfigDict(frozen=True)

    axes: dict[str, list[str]]
    """``X``, ``Y``, ``Z``, ``T`` -> the coordinates that are that axis."""
    coordinates: dict[str, list[str]]
    """``latitude``, ``longitude``, ``vertical``, ``time`` -> the coordinates that have that role."""
    grid_mappings: list[str]
    protocols: list[ProtocolCheck]
    fixes: list[AttributeFix]
    notes: list[str]
    """Problems no attribute fixes (a time that is not datetime64, a name that looks like a latitude with
    values that are not)."""

    def check(self, protocol: ServiceType) -> ProtocolCheck:
        """The verdict on one protocol."""
        return next(c for c in self.protocols if c.protocol == protocol)


def _roles(attrs: Mapping[str, Any]) -> set[str]:
    """The CF roles that ``attrs`` give a coordinate, as cf_xarray reads them."""
    return {
        role
        for role, criteria in _CRITERIA.items()
        if any(
            isinstance(attrs.get(key), str) and attrs[key] in expected for key, expected in criteria.items()
        )
    }


def _found(ds: xr.Dataset) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    axes: dict[str, list[str]] = {axis: [] for axis in ("X", "Y", "Z", "T")}
    coordinates: dict[str, list[str]] = {role: [] for role in ("latitude", "longitude", "vertical", "time")}
    for name in sorted(ds.coords, key=str):
        roles = _roles(ds.coords[name].attrs)
        for axis in axes:
            if axis in roles:
                axes[axis].append(str(name))
        for role in coordinates:
            if role in roles or (role == "time" and "T" in roles):
                coordinates[role].append(str(name))
    return axes, coordinates


def _grid_mappings(ds: xr.Dataset) -> list[str]:
    """The grid mapping variables: named by a ``grid_mapping`` attribute, or called spatial_ref or crs."""
    found = {str(name) for name in ds.variables if str(name) in _GRID_MAPPING_VARIABLES}
    found |= {str(name) for name, var in ds.variables.items() if "grid_mapping_name" in var.attrs}
    for var in ds.variables.values():
        mapping = var.attrs.get("grid_mapping") or var.encoding.get("grid_mapping")
        if isinstance(mapping, str):
            words = mapping.split()
            # "crs", or the extended form "crs_a: x y crs_b: lat lon"
            named = [w[:-1] for w in words if w.endswith(":")] or words
            found |= set(named)
    return sorted(found)


def _value_range(var: xr.Variable) -> tuple[float, float] | None:
    """Min and max of a 1-D numeric coordinate (index coordinates are in memory already); else None."""
    if var.ndim != 1 or var.dtype.kind not in "iuf" or var.size == 0:
        return None
    import numpy as np

    values = np.asarray(var.values, dtype="float64")
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


def _is_datetime(var: xr.Variable) -> bool:
    return var.dtype.kind == "M"


def _describe_time(var: xr.Variable) -> str:
    if var.dtype.kind == "O" and var.size:
        calendar = getattr(var.values.flat[0], "calendar", None)
        if calendar:
            return f"cftime dates in the {calendar!r} calendar"
    units = var.attrs.get("units")
    return f"{var.dtype}" + (f" with units {units!r}" if units else " without CF time units")


class _Guess(BaseModel):
    """What a coordinate's name, values and units suggest it is: the attributes that would say so."""

    attributes: dict[str, str]
    reason: str


class _Clues:
    """What the doctor reads of one coordinate to guess its role."""

    def __init__(self, name: str, var: xr.Variable, has_grid_mapping: bool):
        self.name = name
        self.lowered = name.lower()
        self.units = str(var.attrs.get("units", ""))
        self.is_dimension = var.dims == (name,)
        self.is_datetime = _is_datetime(var)
        self.bounds = _value_range(var)
        self.has_grid_mapping = has_grid_mapping

    def within(self, low: float, high: float) -> bool:
        return self.bounds is None or (low <= self.bounds[0] and self.bounds[1] <= high)

    def span(self) -> str:
        return f"{self.bounds[0]:g}..{self.bounds[1]:g}" if self.bounds else "unknown"

    def because(self, *more: str) -> str:
        parts = [f"named {self.name!r}"]
        if self.units:
            parts.append(f"units {self.units!r}")
        if self.bounds:
            parts.append(f"values {self.span()}")
        return ", ".join([*parts, *more])

    def axis(self, letter: str) -> dict[str, str]:
        """``axis`` names a dimension: a 2-D latitude (of a curvilinear grid) gets none."""
        return {"axis": letter} if self.is_dimension else {}


def _guess(clues: _Clues) -> _Guess | str | None:
    """The attributes that would give an unrecognized coordinate its role; a note (a string) on why a
    coordinate named like one is not guessed; None for a coordinate that looks like nothing in particular."""
    name, lowered, units = clues.name, clues.lowered, clues.units
    if clues.is_datetime:
        if not clues.is_dimension:
            return None
        return _Guess(attributes={"axis": "T", "standard_name": "time"}, reason=clues.because("datetime64"))
    if _LAT_NAME.fullmatch(lowered) or units in _LAT_UNITS:
        if not clues.within(-90, 90):
            return f"{name!r} is named like a latitude but its values ({clues.span()}) are outside -90..90"
        geographic = {"standard_name": "latitude", "units": "degrees_north"}
        return _Guess(attributes={**clues.axis("Y"), **geographic}, reason=clues.because())
    if _LON_NAME.fullmatch(lowered) or units in _LON_UNITS:
        if not clues.within(-180, 360):
            return f"{name!r} is named like a longitude but its values ({clues.span()}) are outside -180..360"
        geographic = {"standard_name": "longitude", "units": "degrees_east"}
        return _Guess(attributes={**clues.axis("X"), **geographic}, reason=clues.because())
    if _ROTATED_LAT_NAME.fullmatch(lowered):
        rotated = {"standard_name": "grid_latitude", "units": "degrees"}
        return _Guess(attributes={**clues.axis("Y"), **rotated}, reason=clues.because())
    if _ROTATED_LON_NAME.fullmatch(lowered):
        rotated = {"standard_name": "grid_longitude", "units": "degrees"}
        return _Guess(attributes={**clues.axis("X"), **rotated}, reason=clues.because())
    if not clues.is_dimension:
        return None
    for pattern, letter in ((_Y_NAME, "Y"), (_X_NAME, "X")):
        if not pattern.fullmatch(lowered):
            continue
        if units in _DEGREE_UNITS:
            role = "latitude" if letter == "Y" else "longitude"
            geographic = {
                "standard_name": role,
                "units": "degrees_north" if letter == "Y" else "degrees_east",
            }
            return _Guess(attributes={"axis": letter, **geographic}, reason=clues.because())
        if clues.has_grid_mapping or units in _LENGTH_UNITS:
            projected = {"standard_name": f"projection_{letter.lower()}_coordinate"}
            why = ("the dataset has a grid mapping",) if clues.has_grid_mapping else ()
            return _Guess(attributes={"axis": letter, **projected}, reason=clues.because(*why))
        return _Guess(attributes={"axis": letter}, reason=clues.because())
    if _DEPTH_NAME.fullmatch(lowered):
        depth = {"standard_name": "depth", "positive": "down"}
        return _Guess(attributes={"axis": "Z", **depth}, reason=clues.because())
    if _HEIGHT_NAME.fullmatch(lowered):
        height = {"standard_name": "altitude" if lowered.startswith("alt") else "height", "positive": "up"}
        return _Guess(attributes={"axis": "Z", **height}, reason=clues.because())
    if _PRESSURE_NAME.fullmatch(lowered) or units in _PRESSURE_UNITS:
        return _Guess(attributes={"axis": "Z", "standard_name": "air_pressure"}, reason=clues.because())
    if _LEVEL_NAME.fullmatch(lowered):
        return _Guess(attributes={"axis": "Z"}, reason=clues.because())
    return None


def _agreeing(guessed: dict[str, str], attrs: Mapping[str, Any]) -> dict[str, str]:
    """The guessed attributes that agree with what the coordinate's own attributes say: an existing
    attribute is never contradicted (a ``standard_name: grid_latitude`` gets ``axis: Y``, not latitude)."""
    if _roles(attrs) - _roles(guessed):
        return {}
    existing = attrs.get("standard_name")
    if existing is not None and existing != guessed.get("standard_name"):
        return {key: value for key, value in guessed.items() if key == "axis"}
    return guessed


def _proposed_fixes(ds: xr.Dataset, has_grid_mapping: bool) -> tuple[list[AttributeFix], list[str]]:
    fixes: list[AttributeFix] = []
    notes: list[str] = []
    for name in sorted(ds.coords, key=str):
        var = ds.coords[name].variable
        guess = _guess(_Clues(str(name), var, has_grid_mapping))
        if isinstance(guess, str):
            if not _roles(var.attrs):
                notes.append(guess)
            continue
        if guess is None:
            continue
        wanted = _agreeing(guess.attributes, var.attrs)
        missing = {key: value for key, value in wanted.items() if key not in var.attrs}
        if missing:
            fixes.append(AttributeFix(variable=str(name), attributes=missing, reason=guess.reason))
    return fixes, notes


def _time_problems(ds: xr.Dataset, coordinates: Mapping[str, list[str]]) -> list[str]:
    named = {
        str(name)
        for name, var in ds.coords.items()
        if var.dims == (name,) and _TIME_NAME.fullmatch(str(name).lower()) and not _roles(var.attrs)
    }
    problems = []
    for name in sorted(set(coordinates["time"]) | named):
        var = ds.coords[name].variable
        if not _is_datetime(var):
            problems.append(
                f"time coordinate {name!r} is {_describe_time(var)}, not datetime64 (store datetimes, or "
                "give it CF units such as 'hours since 2000-01-01' and a standard calendar)"
            )
    return problems


def _reasons(ds: xr.Dataset, grid_mappings: Sequence[str]) -> dict[ServiceType, list[str]]:
    """Per protocol, why it cannot serve ``ds`` (nothing: it can)."""
    axes, coordinates = _found(ds)
    reasons: dict[ServiceType, list[str]] = {protocol: [] for protocol in PROTOCOLS}
    for letter in ("X", "Y"):
        if not axes[letter]:
            reasons[ServiceType.EDR].append(
                f"no {letter} axis (a coordinate with axis: {letter}, "
                f"or a projection_{letter.lower()}_coordinate)"
            )
    for role, units in (("latitude", "degrees_north"), ("longitude", "degrees_east")):
        if not coordinates[role]:
            reasons[ServiceType.WMS].append(
                f"no {role} (a coordinate with standard_name: {role} or units: {units})"
            )
    if reasons[ServiceType.EDR] and reasons[ServiceType.WMS] and not grid_mappings:
        reasons[ServiceType.TILES].append(
            "neither EDR nor WMS can serve it and it has no grid mapping (a grid_mapping attribute, "
            "or a spatial_ref or crs variable)"
        )
    time = _time_problems(ds, coordinates)
    for protocol in _TIME_SENSITIVE:
        reasons[protocol].extend(time)
    return reasons


def _with_fixes(ds: xr.Dataset, fixes: Sequence[AttributeFix]) -> xr.Dataset:
    fixed = ds.copy(deep=False)
    for fix in fixes:
        fixed.variables[fix.variable].attrs.update(fix.attributes)
    return fixed


def diagnose(ds: xr.Dataset) -> Diagnosis:
    """Which protocols can serve ``ds`` and why not, and the attribute fixes that would let more of them.

    Reads attributes and the values of 1-D numeric coordinates, nothing else. Raises
    :class:`NotADatasetError` when ``ds`` has no data variables.
    """
    if not ds.data_vars:
        raise NotADatasetError("it has no data variables: not a dataset")
    grid_mappings = _grid_mappings(ds)
    fixes, notes = _proposed_fixes(ds, bool(grid_mappings))
    before = _reasons(ds, grid_mappings)
    after = _reasons(_with_fixes(ds, fixes), grid_mappings) if fixes else before
    axes, coordinates = _found(ds)
    return Diagnosis(
        axes=axes,
        coordinates=coordinates,
        grid_mappings=grid_mappings,
        protocols=[
            ProtocolCheck(
                protocol=protocol,
                compatible=not before[protocol],
                reasons=before[protocol],
                compatible_after_fix=not after[protocol],
            )
            for protocol in PROTOCOLS
        ],
        fixes=fixes,
        notes=[*notes, *_time_problems(ds, coordinates)],
    )


def open_dataset(store: Store, group: str | None = None) -> xr.Dataset:
    """The dataset in ``group`` of a Zarr store (an Icechunk session's), opened lazily without Dask.

    Raises ``FileNotFoundError`` when there is no such group and :class:`NotADatasetError` when it holds
    no arrays, or arrays that xarray cannot read as variables (no dimension names).
    """
    xr = _xarray()
    import zarr

    where = f"group {group!r}" if group else "the root group"
    try:
        node = zarr.open_group(store, path=group or "", mode="r")
    except (zarr.errors.GroupNotFoundError, zarr.errors.ContainsArrayError) as exc:
        raise FileNotFoundError(
            f"there is no group {group!r}" if group else "no root group: nothing has been written yet"
        ) from exc
    if not any(True for _ in node.array_keys()):
        raise NotADatasetError(f"{where} holds no arrays: not a dataset")
    try:
        return xr.open_dataset(store, engine="zarr", group=group or None, consolidated=False, chunks=None)
    except KeyError as exc:
        raise NotADatasetError(
            f"xarray cannot read {where} as a dataset ({exc.args[0] if exc.args else exc})"
        ) from exc


def fix_message(fixes: Sequence[AttributeFix], group: str | None = None) -> str:
    """The commit message for ``fixes``: which attributes were added to which variables."""
    added = "; ".join(
        f"{fix.variable} ({', '.join(f'{key}={value}' for key, value in fix.attributes.items())})"
        for fix in fixes
    )
    where = f" in {group}" if group else ""
    return f"repo doctor: add CF attributes{where}: {added}"


def apply_fixes(session: icechunk.Session, fixes: Sequence[AttributeFix], group: str | None = None) -> str:
    """Add the attributes of ``fixes`` to the arrays of ``group`` in a writable session and commit;
    return the new snapshot id. Only the arrays' metadata changes: no chunk is rewritten."""
    if not fixes:
        raise ValueError("there is nothing to fix")
    import zarr

    prefix = f"{group.strip('/')}/" if group and group.strip("/") else ""
    for fix in fixes:
        array = zarr.open_array(session.store, path=f"{prefix}{fix.variable}", mode="r+")
        unset: dict[str, Any] = {
            key: value for key, value in fix.attributes.items() if key not in array.attrs
        }
        if unset:
            array.update_attributes(unset)
    return session.commit(fix_message(fixes, group))


def _xarray() -> Any:
    try:
        import xarray
    except ImportError as exc:
        raise ImportError(
            "the dataset doctor needs xarray: pip install 'arraylake-open[xarray]'", name=exc.name
        ) from exc
    return xarray
