"""A look at the data: a 2-D slice as an image with a colour bar and sliders, a value at a point, a series."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
from fastapi import Query, Request, Response
from fastapi.responses import HTMLResponse

from arraylake.server.browse import render as draw
from arraylake.server.browse import slices
from arraylake.server.browse.opening import ResolvedRef, open_for_viewer, resolve_ref, session_at
from arraylake.server.deps import OnRepo, OrgName, RepoName
from arraylake.server.errors import InvalidInput
from arraylake.server.web.rendering import is_htmx, render
from arraylake.server.web.routing import pages_router
from arraylake.server.web.viewer import SignedIn, Viewer
from arraylake.types import RepoActions

router = pages_router()

RESERVED = frozenset({"ref", "path", "x", "y", "cmap", "series", "at.x", "at.y"})
"""Query keys of the page itself; any other key is a dimension's index (``dim.<name>`` also works, and is
how a dimension named like one of these is given)."""
FIRST_VALUES = 10

Ref = Annotated[str | None, Query(max_length=256)]
Path = Annotated[str | None, Query(max_length=1024)]
Name = Annotated[str | None, Query(max_length=256)]


def _dimension_param(name: str) -> str:
    return f"dim.{name}" if name in RESERVED or name.startswith("dim.") else name


def _fixed(request: Request, names: list[str]) -> dict[int, int]:
    """The dimension indices the query gives; 422 for a name the array has not or an index not a number."""
    fixed: dict[int, int] = {}
    for key, value in request.query_params.multi_items():
        if key in RESERVED:
            continue
        name = key[4:] if key.startswith("dim.") else key
        if name not in names:
            raise InvalidInput(f"{key}: the array has no dimension {name!r} (it has {', '.join(names)})")
        try:
            fixed[names.index(name)] = int(value)
        except ValueError as exc:
            raise InvalidInput(f"{name}: give an index (a whole number), not {value[:40]!r}") from exc
    return fixed


def _dimension(names: list[str], given: str | None, what: str) -> int | None:
    if not given:
        return None
    if given not in names:
        raise InvalidInput(f"{what}: the array has no dimension {given!r} (it has {', '.join(names)})")
    return names.index(given)


def _image_axes(names: list[str], x: str | None, y: str | None) -> tuple[int, int]:
    """(vertical, horizontal): as chosen, else the last two dimensions."""
    count = len(names)
    horizontal = _dimension(names, x, "x")
    vertical = _dimension(names, y, "y")
    if horizontal is None:
        horizontal = next(d for d in reversed(range(count)) if d != vertical)
    if vertical is None:
        vertical = next(d for d in reversed(range(count)) if d != horizontal)
    if vertical == horizontal:
        raise InvalidInput("choose two different dimensions for the horizontal and vertical axes")
    return vertical, horizontal


def _text(value: Any) -> str:
    """A value as the page shows it: numbers to 6 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, (float, np.floating)):
        return "NaN" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    return str(value)


@dataclass
class Slider:
    """A dimension held at one index, with its coordinate value when there is one."""

    dim: int
    name: str
    param: str
    index: int
    last: int
    value: str | None
    units: str | None


@dataclass
class Look:
    """An array at a ref, with what the query asks to see of it."""

    on: OnRepo
    ref: ResolvedRef
    store: Any
    path: str
    array: slices.AnyArray
    names: list[str]
    dtype: np.dtype[Any]
    attributes: dict[str, Any]
    coords: slices.Coordinates
    fixed: dict[int, int]
    cmap: str
    mode: str
    """``image``, ``series`` or ``scalar``."""
    axes: tuple[int, ...] = ()
    plan: slices.Plan | None = None
    sliders: list[Slider] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.array.shape)

    @property
    def units(self) -> str | None:
        units = self.attributes.get("units")
        return str(units) if units else None

    def label(self) -> str:
        name = str(self.attributes.get("long_name") or self.path.rpartition("/")[2])
        return f"{name} ({self.units})" if self.units else name

    def query(self, **extra: str) -> str:
        """The query that shows this look again (images and links carry it)."""
        params: list[tuple[str, str]] = [("ref", self.ref.name), ("path", self.path)]
        if self.mode == "image":
            params += [("x", self.names[self.axes[1]]), ("y", self.names[self.axes[0]])]
        elif self.mode == "series" and len(self.names) > 1:
            params.append(("series", self.names[self.axes[0]]))
        params.append(("cmap", self.cmap))
        params += [(slider.param, str(slider.index)) for slider in self.sliders]
        params += list(extra.items())
        return urlencode(params)

    def missing(self) -> list[float]:
        return slices.missing_values(self.attributes)


async def _open(viewer: Viewer, org: str, repo: str, ref: str | None) -> tuple[OnRepo, ResolvedRef, Any]:
    on = viewer.on_repo(org, repo, RepoActions.CAN_READ)
    opened = await open_for_viewer(on)
    resolved = await resolve_ref(opened.repository, ref)
    session = await session_at(opened.repository, resolved)
    return on, resolved, session.store


async def _look(
    request: Request,
    viewer: Viewer,
    org: str,
    repo: str,
    *,
    ref: str | None,
    path: str,
    x: str | None,
    y: str | None,
    series: str | None,
    cmap: str | None,
) -> Look:
    """Open the array the query names and plan what of it to read; 422 for a query that does not fit it."""
    cmap = draw.check_colormap(cmap)
    on, resolved, store = await _open(viewer, org, repo, ref)
    path = slices.clean_path(path)
    array = await slices.open_array(store, path)
    dtype = slices.numpy_dtype(array)
    if dtype is None or not slices.drawable(dtype):
        raise InvalidInput(f"{path} holds {dtype or array.dtype} values: they cannot be drawn")
    names = slices.dimension_names(array)
    fixed = _fixed(request, names)
    coords = await slices.coordinates(store, path, array, names)
    attributes = dict(array.attrs)
    look = Look(on, resolved, store, path, array, names, dtype, attributes, coords, fixed, cmap, "scalar")
    shape, chunks, itemsize = look.shape, slices.array_chunks(array), dtype.itemsize
    if len(shape) == 0:
        return look
    along = _dimension(names, series, "series")
    if len(shape) == 1 or along is not None:
        look.mode, look.axes = "series", (along or 0,)
        look.plan = slices.plan_series(shape, chunks, itemsize, names, along or 0, fixed)
    else:
        vertical, horizontal = _image_axes(names, x, y)
        look.mode, look.axes = "image", (vertical, horizontal)
        look.plan = slices.plan_image(shape, chunks, itemsize, names, vertical, horizontal, fixed)
    if any(shape[a] == 0 for a in look.axes):
        raise InvalidInput(f"{path} is empty along {', '.join(names[a] for a in look.axes)}: nothing to draw")
    for dim, name in enumerate(names):
        if dim in look.axes:
            continue
        index = fixed.get(dim, 0)
        value = await coords.value(dim, index)
        look.sliders.append(
            Slider(
                dim,
                name,
                _dimension_param(name),
                index,
                shape[dim] - 1,
                None if value is None else _text(value),
                coords.units(dim),
            )
        )
    return look


async def _values(look: Look) -> np.ndarray:
    assert look.plan is not None
    data = await slices.read_plan(look.array, look.plan)
    return await asyncio.to_thread(slices.as_float, data, look.missing())


async def _geometry(look: Look) -> slices.Geometry:
    assert look.plan is not None
    rows, cols = look.plan.counts
    return slices.geometry(rows, cols, await look.coords.increasing(look.axes[0]))


def _png(content: bytes, ref: ResolvedRef) -> Response:
    # an image of a snapshot id never changes; a branch or tag may move on
    seconds = 3600 if ref.kind == "snapshot" else 60
    return Response(content, media_type="image/png", headers={"cache-control": f"private, max-age={seconds}"})


# ------------------------------------------------------------------------------------------------ pages


@router.get("/app/{org}/{repo}/data", response_class=HTMLResponse)
async def repo_data(
    request: Request,
    org: OrgName,
    repo: RepoName,
    viewer: SignedIn,
    ref: Ref = None,
    path: Path = None,
    x: Name = None,
    y: Name = None,
    series: Name = None,
    cmap: Name = None,
    at_x: Annotated[int | None, Query(alias="at.x")] = None,
    at_y: Annotated[int | None, Query(alias="at.y")] = None,
) -> HTMLResponse:
    """The arrays of a ref to choose from; or one array: a slice as an image, or a series as a plot."""
    context: dict[str, Any] = {"org": org, "repo": repo, "section": "catalog", "colormaps": draw.COLORMAPS}
    if not path:
        draw.check_colormap(cmap)
        on, resolved, store = await _open(viewer, org, repo, ref)
        entries, truncated = await slices.list_arrays(store)
        context.update(on=on, ref=resolved, entries=entries, truncated=truncated, look=None)
    else:
        look = await _look(request, viewer, org, repo, ref=ref, path=path, x=x, y=y, series=series, cmap=cmap)
        context.update(on=look.on, ref=look.ref, look=look, **await _describe(look, at_x, at_y))
    context["may_change"] = context["on"].may(RepoActions.CAN_WRITE)
    template = "app/_data_view.html" if is_htmx(request) else "app/repo_data.html"
    return render(request, viewer, template, **context)


async def _describe(look: Look, at_x: int | None, at_y: int | None) -> dict[str, Any]:
    """What the page says about the look: the facts, the statistics, the value at a clicked point."""
    found: dict[str, Any] = {
        "names": look.names,
        "chunks": slices.array_chunks(look.array),
        "base": f"/app/{look.on.org}/{look.on.repo}/data",
    }
    if look.mode == "scalar":
        value = np.asarray(await look.array.getitem(())).item()
        found.update(scalar=_text(value), stats=None)
        return found
    values = await _values(look)
    found["stats"] = await asyncio.to_thread(slices.stats, values)
    if look.mode == "series":
        assert look.plan is not None
        stride = look.plan.strides[0]
        coordinate = await look.coords.along(look.axes[0], stride)
        found["rows"] = [
            (i * stride, _text(coordinate[i]) if coordinate is not None else None, _text(values[i]))
            for i in range(min(FIRST_VALUES, len(values)))
        ]
        found["has_coordinate"] = coordinate is not None
        return found
    geo = await _geometry(look)
    found["geometry"] = geo
    if (at_x is None) != (at_y is None):
        raise InvalidInput("at.x and at.y: give both coordinates of the point")
    if at_x is not None and at_y is not None:
        assert look.plan is not None
        if not (0 <= at_x < geo.width and 0 <= at_y < geo.height):
            raise InvalidInput(
                f"at: the point ({at_x}, {at_y}) is outside the {geo.width}x{geo.height} image"
            )
        iy, ix = slices.pixel_to_index(geo, look.plan, at_x, at_y)
        sy, sx = look.plan.strides
        index = [look.fixed.get(d, 0) for d in range(len(look.names))]
        index[look.axes[0]], index[look.axes[1]] = iy, ix
        where = []
        for dim in (look.axes[0], look.axes[1]):
            value = await look.coords.value(dim, index[dim])
            where.append(f"{look.names[dim]}={_text(value) if value is not None else index[dim]}")
        found["point"] = {
            "where": ", ".join(where),
            "indices": ", ".join(f"{n}={i}" for n, i in zip(look.names, index, strict=True)),
            "value": _text(values[iy // sy, ix // sx]),
        }
    return found


@router.get("/app/{org}/{repo}/data/image.png")
async def data_image(
    request: Request,
    org: OrgName,
    repo: RepoName,
    viewer: SignedIn,
    path: Annotated[str, Query(max_length=1024)],
    ref: Ref = None,
    x: Name = None,
    y: Name = None,
    cmap: Name = None,
) -> Response:
    """A 2-D slice of an array as a PNG, at the size the page gives its image."""
    look = await _look(request, viewer, org, repo, ref=ref, path=path, x=x, y=y, series=None, cmap=cmap)
    if look.mode != "image":
        raise InvalidInput(f"{look.path} has fewer than two dimensions: it is drawn as a series")
    values = await _values(look)
    geo = await _geometry(look)
    found = await asyncio.to_thread(slices.stats, values)
    content = await asyncio.to_thread(
        draw.image_png,
        values,
        look.cmap,
        found.minimum,
        found.maximum,
        scale=(geo.yscale, geo.xscale),
        origin_lower=geo.origin_lower,
    )
    return _png(content, look.ref)


@router.get("/app/{org}/{repo}/data/series.png")
async def data_series(
    request: Request,
    org: OrgName,
    repo: RepoName,
    viewer: SignedIn,
    path: Annotated[str, Query(max_length=1024)],
    ref: Ref = None,
    series: Name = None,
    cmap: Name = None,
) -> Response:
    """A 1-D series of an array (along ``series``, the other dimensions held) as a line plot PNG."""
    look = await _look(
        request, viewer, org, repo, ref=ref, path=path, x=None, y=None, series=series, cmap=cmap
    )
    if look.mode != "series" or look.plan is None:
        raise InvalidInput(f"{look.path}: choose the dimension of the series")
    values = await _values(look)
    along = look.axes[0]
    stride = look.plan.strides[0]
    coordinate = await look.coords.along(along, stride)
    xs = coordinate if coordinate is not None else np.arange(0, look.shape[along], stride)
    units = look.coords.units(along)
    xlabel = f"{look.names[along]} ({units})" if units else look.names[along]
    held = ", ".join(f"{s.name}={s.value if s.value is not None else s.index}" for s in look.sliders)
    content = await asyncio.to_thread(
        draw.line_png, xs, values, xlabel=xlabel, ylabel=look.label(), title=held
    )
    return _png(content, look.ref)


@router.get("/app/{org}/{repo}/data/colorbar.png")
async def data_colorbar(org: OrgName, repo: RepoName, viewer: SignedIn, cmap: Name = None) -> Response:
    """The colour bar of a colour map: a horizontal gradient, lowest values on the left."""
    viewer.on_repo(org, repo, RepoActions.CAN_READ)
    content = await asyncio.to_thread(draw.colorbar_png, draw.check_colormap(cmap))
    return Response(content, media_type="image/png", headers={"cache-control": "private, max-age=3600"})
