"""The EDR collection document of a dataset: its extent, parameters, and the queries it answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .axes import GridAxes, extent, is_global_longitude, iso_times, to_crs84_longitude
from .covjson import parameter
from .query import AREA_EXAMPLE, POSITION_EXAMPLE, OutputFormat

CRS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433],AXIS["Longitude",EAST],AXIS["Latitude",NORTH]]'
)
TRS = 'TIMECRS["DateTime",TDATUM["Gregorian Calendar"],CS[TemporalDateTime,1],AXIS["Time (T)",future]]'
_MAX_LISTED_VALUES = 1000
_QUERIES = {
    "position": ("POINT or MULTIPOINT: the nearest grid point of each point", POSITION_EXAMPLE),
    "area": ("POLYGON or MULTIPOLYGON: the cells whose centres fall in the polygon", AREA_EXAMPLE),
}


def _bbox(ds: xr.Dataset, axes: GridAxes) -> list[float]:
    (x0, x1), (y0, y1) = extent(ds[axes.x].values), extent(ds[axes.y].values)
    if axes.x_is_longitude:
        if is_global_longitude(ds[axes.x].values):
            x0, x1 = -180.0, 180.0
        else:
            x0, x1 = to_crs84_longitude(x0), to_crs84_longitude(x1)
    return [x0, y0, x1, y1]


def _extent(ds: xr.Dataset, axes: GridAxes) -> dict[str, Any]:
    result: dict[str, Any] = {"spatial": {"bbox": [_bbox(ds, axes)], "crs": CRS84_WKT}}
    if axes.t is not None:
        times = iso_times(ds[axes.t].values)
        temporal: dict[str, Any] = {"interval": [[min(times), max(times)]], "trs": TRS}
        if len(times) <= _MAX_LISTED_VALUES:
            temporal["values"] = times
        result["temporal"] = temporal
    if axes.z is not None:
        levels = ds[axes.z].values.astype("float64")
        vertical: dict[str, Any] = {
            "interval": [[float(np.min(levels)), float(np.max(levels))]],
            "vrs": str(ds[axes.z].attrs.get("standard_name") or ds[axes.z].attrs.get("long_name") or axes.z),
        }
        if levels.size <= _MAX_LISTED_VALUES:
            vertical["values"] = [float(v) for v in levels]
        result["vertical"] = vertical
    return result


def collection(
    ds: xr.Dataset, axes: GridAxes, params: list[str], base_url: str, dataset_id: str
) -> dict[str, Any]:
    """The collection document; ``base_url`` is the collection's URL (``.../edr``), where its queries live."""
    formats = [f.value for f in OutputFormat]
    data_queries = {
        query: {
            "link": {
                "href": f"{base_url}/{query}",
                "rel": "data",
                "title": f"{query.capitalize()} query",
                "templated": False,
                "variables": {
                    "title": f"{query.capitalize()} query",
                    "description": description,
                    "query_type": query,
                    "coords": f"Well Known Text, e.g. {example}",
                    "output_formats": formats,
                    "default_output_format": OutputFormat.COVJSON.value,
                    "crs_details": [{"crs": "CRS84", "wkt": CRS84_WKT}],
                },
            }
        }
        for query, (description, example) in _QUERIES.items()
    }
    return {
        "id": dataset_id,
        "title": str(ds.attrs.get("title") or dataset_id),
        "description": str(
            ds.attrs.get("summary") or ds.attrs.get("description") or ds.attrs.get("title") or ""
        ),
        "links": [
            {"href": base_url, "rel": "self", "type": "application/json", "title": "This collection"},
            *(
                {"href": f"{base_url}/{query}", "rel": "data", "title": f"{query.capitalize()} query"}
                for query in _QUERIES
            ),
        ],
        "extent": _extent(ds, axes),
        "data_queries": data_queries,
        "crs": ["CRS84"],
        "output_formats": formats,
        "parameter_names": {name: parameter(ds[name], name) for name in params},
    }
