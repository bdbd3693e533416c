"""The EDR plugin: OGC API EDR collection metadata, position and area queries of one dataset."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Annotated

import cachey  # type: ignore[import-untyped]
import xarray as xr
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from xpublish import Dependencies, Plugin, hookimpl

from ..limits import Limits, check_size
from . import covjson, files, metadata, query, select
from .axes import GridAxes, find_axes
from .query import OutputFormat

_LIMITS = Limits()
_CACHE_COST = 99999  # what xpublish's own plugins give their per-dataset metadata: keep it
_ENCODERS: dict[OutputFormat, tuple[Callable[[select.Selection], Iterator[bytes]], str]] = {
    OutputFormat.COVJSON: (covjson.coverage_json, covjson.MEDIA_TYPE),
    OutputFormat.CSV: (files.csv_text, files.CSV_MEDIA_TYPE),
    OutputFormat.NETCDF: (files.netcdf_bytes, files.NETCDF_MEDIA_TYPE),
}


@dataclass(frozen=True, slots=True)
class _QueryType:
    name: str
    geometries: tuple[str, ...]
    example: str
    selector: Callable[..., select.Selection]
    narrow: str


_POSITION = _QueryType(
    "position",
    ("Point", "MultiPoint"),
    query.POSITION_EXAMPLE,
    select.select_position,
    "fewer points, fewer parameters, fewer levels or a shorter datetime range",
)
_AREA = _QueryType(
    "area",
    ("Polygon", "MultiPolygon"),
    query.AREA_EXAMPLE,
    select.select_area,
    "a smaller polygon, fewer parameters or a shorter datetime range",
)

Coords = Annotated[str | None, Query(description="WKT geometry")]
ParameterName = Annotated[
    str | None, Query(alias="parameter-name", description="Comma-separated parameters (default: all)")
]
Datetime = Annotated[str | None, Query(description="An instant (the nearest step), or start/end, .. open")]
Z = Annotated[str | None, Query(description="A level (the nearest), levels a,b,... or an interval a/b")]
Format = Annotated[str | None, Query(description="cf_covjson (default), csv or netcdf")]
Crs = Annotated[str | None, Query(description="CRS84, the one CRS of coords")]


def grid_axes(request: Request, dataset: xr.Dataset, cache: cachey.Cache) -> GridAxes:
    """The dataset's axes, found once per dataset id (the front door's ids name a snapshot, so they do
    not change under it)."""
    dataset_id = request.path_params.get("dataset_id")
    key = f"{dataset_id}/edr/axes"
    axes = cache.get(key) if dataset_id else None
    if axes is None:
        axes = find_axes(dataset)
        if dataset_id:
            cache.put(key, axes, _CACHE_COST)
    return axes


class EdrPlugin(Plugin):
    """OGC API EDR over a dataset with CF X/Y (and optional Z/T) axes, under ``{dataset}/edr``."""

    name: str = "edr"
    dataset_router_prefix: str = "/edr"
    dataset_router_tags: Sequence[str] = ["edr"]
    max_response_bytes: int = _LIMITS.max_response_bytes
    """Largest answer: every EDR answer is read whole before it is sent."""
    max_stream_bytes: int = _LIMITS.max_stream_bytes
    """The data plane's plugin contract; EDR streams nothing it has not read, so ``max_response_bytes``
    is the limit that applies."""

    @hookimpl
    def dataset_router(self, deps: Dependencies) -> APIRouter:
        router = APIRouter(prefix=self.dataset_router_prefix, tags=list(self.dataset_router_tags))

        def answer(
            kind: _QueryType,
            request: Request,
            dataset: xr.Dataset,
            cache: cachey.Cache,
            coords: str | None,
            parameter_name: str | None,
            datetime: str | None,
            z: str | None,
            f: str | None,
            crs: str | None,
        ) -> StreamingResponse:
            fmt = query.output_format(f)
            query.check_crs(crs)
            axes = grid_axes(request, dataset, cache)
            dataset = axes.on(dataset)
            geometry = query.geometry(coords, kind.geometries, kind.example)
            params = query.parameters(dataset, axes, parameter_name)
            t_index = query.time_indexer(dataset, axes, datetime)
            z_index = query.z_indexer(dataset, axes, z)
            lazy = kind.selector(dataset, axes, geometry, params, t_index, z_index)
            check_size(
                select.estimated_bytes(lazy, fmt),
                self.max_response_bytes,
                what=f"this {kind.name} query",
                narrow=kind.narrow,
            )
            encode, media_type = _ENCODERS[fmt]
            # Encoders read and build before they return (a failure is still an error status); what they
            # return is then sent in pieces.
            return StreamingResponse(encode(select.load(lazy)), media_type=media_type)

        def collection(
            request: Request,
            dataset: xr.Dataset = Depends(deps.dataset),
            cache: cachey.Cache = Depends(deps.cache),
        ) -> JSONResponse:
            """The collection: extent, parameters, and links to the position and area queries."""
            axes = grid_axes(request, dataset, cache)
            dataset = axes.on(dataset)
            base_url = str(request.url.replace(query="")).rstrip("/")
            dataset_id = str(request.path_params.get("dataset_id", ""))
            params = query.queryable_parameters(dataset, axes)
            return JSONResponse(metadata.collection(dataset, axes, params, base_url, dataset_id))

        def position(
            request: Request,
            coords: Coords = None,
            parameter_name: ParameterName = None,
            datetime: Datetime = None,
            z: Z = None,
            f: Format = None,
            crs: Crs = None,
            dataset: xr.Dataset = Depends(deps.dataset),
            cache: cachey.Cache = Depends(deps.cache),
        ) -> StreamingResponse:
            """The nearest grid point of a POINT, or of each point of a MULTIPOINT."""
            return answer(_POSITION, request, dataset, cache, coords, parameter_name, datetime, z, f, crs)

        def area(
            request: Request,
            coords: Coords = None,
            parameter_name: ParameterName = None,
            datetime: Datetime = None,
            z: Z = None,
            f: Format = None,
            crs: Crs = None,
            dataset: xr.Dataset = Depends(deps.dataset),
            cache: cachey.Cache = Depends(deps.cache),
        ) -> StreamingResponse:
            """The cells whose centres fall in a POLYGON or MULTIPOLYGON, cells outside it null."""
            return answer(_AREA, request, dataset, cache, coords, parameter_name, datetime, z, f, crs)

        router.get("/", name="edr_collection")(collection)
        router.get("", name="edr_collection_no_slash", include_in_schema=False)(collection)
        router.get("/position", name="edr_position")(position)
        router.get("/area", name="edr_area")(area)
        return router
