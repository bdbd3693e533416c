"""The EDR plugin: OGC API EDR collection metadata, position and area queries of one dataset."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import xarray as xr
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from shapely.geometry.base import BaseGeometry
from xpublish import Dependencies, Plugin, hookimpl

from ..limits import Limits, check_size
from . import covjson, files, metadata, query, select
from .axes import GridAxes, find_axes
from .query import OutputFormat

_LIMITS = Limits()
_NARROW = "a smaller polygon, fewer parameters or a shorter datetime range"
_ENCODERS: dict[OutputFormat, tuple[Callable[[select.Selection], bytes], str]] = {
    OutputFormat.COVJSON: (covjson.coverage_json, covjson.MEDIA_TYPE),
    OutputFormat.CSV: (files.csv_text, files.CSV_MEDIA_TYPE),
    OutputFormat.NETCDF: (files.netcdf_bytes, files.NETCDF_MEDIA_TYPE),
}
_Selector = Callable[..., select.Selection]

Coords = Annotated[str | None, Query(description="WKT geometry")]
ParameterName = Annotated[
    str | None, Query(alias="parameter-name", description="Comma-separated parameters (default: all)")
]
Datetime = Annotated[str | None, Query(description="An instant, or start/end with .. for an open end")]
Z = Annotated[str | None, Query(description="A level, levels a,b,... or an interval a/b")]
Format = Annotated[str | None, Query(description="cf_covjson (default), csv or netcdf")]


class EdrPlugin(Plugin):
    """OGC API EDR over a dataset with CF X/Y (and optional Z/T) axes, under ``{dataset}/edr``."""

    name: str = "edr"
    dataset_router_prefix: str = "/edr"
    dataset_router_tags: Sequence[str] = ["edr"]
    max_response_bytes: int = _LIMITS.max_response_bytes
    """Largest answer built in memory (EDR builds every answer whole before sending it)."""
    max_stream_bytes: int = _LIMITS.max_stream_bytes
    """The data plane's plugin contract: EDR answers are built whole, so ``max_response_bytes`` applies."""

    @hookimpl
    def dataset_router(self, deps: Dependencies) -> APIRouter:
        router = APIRouter(prefix=self.dataset_router_prefix, tags=list(self.dataset_router_tags))

        def collection(request: Request, dataset: xr.Dataset = Depends(deps.dataset)) -> JSONResponse:
            """The collection: extent, parameters, and links to the position and area queries."""
            axes = find_axes(dataset)
            base_url = str(request.url.replace(query="")).rstrip("/")
            dataset_id = str(request.path_params.get("dataset_id", ""))
            params = query.queryable_parameters(dataset, axes)
            return JSONResponse(metadata.collection(dataset, axes, params, base_url, dataset_id))

        def answer(
            dataset: xr.Dataset,
            selector: _Selector,
            geometry: BaseGeometry,
            axes: GridAxes,
            parameter_name: str | None,
            datetime: str | None,
            z: str | None,
            fmt: OutputFormat,
            what: str,
        ) -> Response:
            params = query.parameters(dataset, axes, parameter_name)
            t_index = query.time_indexer(dataset, axes, datetime)
            z_index = query.z_indexer(dataset, axes, z)
            lazy = selector(dataset, axes, geometry, params, t_index, z_index)
            check_size(select.estimated_bytes(lazy, fmt), self.max_response_bytes, what=what, narrow=_NARROW)
            encode, media_type = _ENCODERS[fmt]
            return Response(encode(select.load(lazy)), media_type=media_type)

        def position(
            coords: Coords = None,
            parameter_name: ParameterName = None,
            datetime: Datetime = None,
            z: Z = None,
            f: Format = None,
            dataset: xr.Dataset = Depends(deps.dataset),
        ) -> Response:
            """The nearest grid point of a POINT or of each point of a MULTIPOINT."""
            fmt = query.output_format(f)
            axes = find_axes(dataset)
            geometry = query.geometry(coords, ("Point", "MultiPoint"), "POINT(10.5 45.2)")
            return answer(
                dataset,
                select.select_position,
                geometry,
                axes,
                parameter_name,
                datetime,
                z,
                fmt,
                "this position query",
            )

        def area(
            coords: Coords = None,
            parameter_name: ParameterName = None,
            datetime: Datetime = None,
            z: Z = None,
            f: Format = None,
            dataset: xr.Dataset = Depends(deps.dataset),
        ) -> Response:
            """The cells whose centres fall in a POLYGON or MULTIPOLYGON, cells outside it null."""
            fmt = query.output_format(f)
            axes = find_axes(dataset)
            geometry = query.geometry(
                coords, ("Polygon", "MultiPolygon"), "POLYGON((0 0,10 0,10 10,0 10,0 0))"
            )
            return answer(
                dataset,
                select.select_area,
                geometry,
                axes,
                parameter_name,
                datetime,
                z,
                fmt,
                "this area query",
            )

        router.get("/", name="edr_collection")(collection)
        router.get("", name="edr_collection_no_slash", include_in_schema=False)(collection)
        router.get("/position", name="edr_position")(position)
        router.get("/area", name="edr_area")(area)
        return router
