"""Which xpublish plugin serves which protocol, and what each needs from the front door.

- wms: ``xpublish_wms.CfWmsPlugin`` (WMS 1.3.0). xpublish-tiles also registers ``/wms``, so only the
  plugin of the deployment's protocol is ever loaded.
- tiles: xpublish-tiles' OGC API Tiles plugin alone (its tiles and legends answer 500 without ``f``, so
  the front door defaults ``f=png``).
- zarr: ``xpublish_zarr.ZarrPlugin``; its root ``zarr.json`` holds consolidated metadata, which HTTP
  clients need (they cannot list).
- edr, dap2: our own plugins in ``arraylake.dataplane.edr`` and ``arraylake.dataplane.dap2``.
"""

from __future__ import annotations

import importlib
import inspect
import json
from types import ModuleType

from fastapi import HTTPException
from xpublish import Plugin
from xpublish.utils.api import DATASET_ID_ATTR_KEY

from arraylake.dataplane.limits import Limits, check_size
from arraylake.types.compute import ServiceType

OWN_PLUGIN_MODULES = {
    ServiceType.EDR: "arraylake.dataplane.edr",
    ServiceType.DAP2: "arraylake.dataplane.dap2",
}
LIMIT_FIELDS = ("max_response_bytes", "max_stream_bytes")
RGBA = 4

TILE_SIZE = 256


def protocol_plugin(protocol: ServiceType, limits: Limits) -> Plugin:
    """The configured xpublish plugin serving ``protocol``."""
    if protocol is ServiceType.WMS:
        from xpublish_wms import CfWmsPlugin

        return CfWmsPlugin(array_get_map_render_threshold_bytes=limits.max_response_bytes)
    if protocol is ServiceType.TILES:
        from xpublish_tiles.xpublish.tiles import TilesPlugin

        return TilesPlugin()
    if protocol is ServiceType.ZARR:
        from xpublish_zarr import ZarrPlugin

        return ZarrPlugin()
    return _own_plugin(importlib.import_module(OWN_PLUGIN_MODULES[protocol]), limits)


def _own_plugin(module: ModuleType, limits: Limits) -> Plugin:
    """The plugin class a module of ours exports (the one ``Plugin`` subclass in its namespace), given
    the limits it declares as fields."""
    names = getattr(module, "__all__", None) or dir(module)
    classes = [
        value
        for name in names
        if inspect.isclass(value := getattr(module, name, None))
        and issubclass(value, Plugin)
        and value is not Plugin
    ]
    if len(classes) != 1:
        raise RuntimeError(f"{module.__name__} should export one xpublish Plugin class, found {classes}")
    cls = classes[0]
    fields = {name: getattr(limits, name) for name in LIMIT_FIELDS if name in cls.model_fields}
    return cls(**fields)


def adjust_query(protocol: ServiceType, rest: str, query: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The query handed to the plugin. For tiles: ``f=png`` unless a format was asked for (xpublish-tiles
    answers 500 without it), and 256x256 tiles (which plain XYZ clients expect) unless a size was."""
    if protocol is not ServiceType.TILES:
        return query
    given = {k for k, _ in query}
    added = [] if "f" in given else [("f", "png")]
    if rest.strip("/") not in ("", "legend"):
        added += [(k, str(TILE_SIZE)) for k in ("width", "height") if k not in given]
    return [*query, *added]


def clean_body(protocol: ServiceType, rest: str, body: bytes) -> bytes:
    """A text answer without what only the plugins need: xpublish stores the internal dataset id in the
    dataset's attributes (plugins key their caches on it), which xpublish-zarr would hand to clients as a
    root attribute."""
    if (
        protocol is not ServiceType.ZARR
        or rest.strip("/") != "zarr.json"
        or DATASET_ID_ATTR_KEY.encode() not in body
    ):
        return body
    try:
        document = json.loads(body)
    except ValueError:
        return body
    document.get("attributes", {}).pop(DATASET_ID_ATTR_KEY, None)
    return json.dumps(document, indent=2).encode()


def check_request_size(
    protocol: ServiceType, rest: str, query: list[tuple[str, str]], dataset: object, limits: Limits
) -> None:
    """413 for what a plugin would build whole over ``max_response_bytes``: images (WMS, tiles) and Zarr
    chunks. EDR and DAP2 check their own sizes."""
    params = {k.lower(): v for k, v in query}
    if protocol in (ServiceType.WMS, ServiceType.TILES):
        width, height = _int(params.get("width"), 256), _int(params.get("height"), 256)
        check_size(
            width * height * RGBA,
            limits.max_response_bytes,
            what=f"a {width}x{height} image",
            narrow="a smaller width and height",
        )
    elif protocol is ServiceType.ZARR:
        parts = rest.strip("/").split("/")
        if len(parts) >= 2 and parts[1] == "c":
            _check_chunk(parts[0], dataset, limits)


def _check_chunk(var: str, dataset: object, limits: Limits) -> None:
    import xarray as xr

    if not isinstance(dataset, xr.Dataset) or var not in dataset.variables:
        return
    variable = dataset.variables[var]
    chunks = variable.chunks
    shape = tuple(max(c) for c in chunks) if chunks else variable.shape
    nbytes = variable.dtype.itemsize
    for n in shape:
        nbytes *= n
    check_size(
        nbytes,
        limits.max_response_bytes,
        what=f"a chunk of {var!r}",
        narrow="this array's chunks are too large to serve; rechunk it in the repo",
    )


def _int(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        return max(int(value), 0)
    except ValueError:
        raise HTTPException(
            status_code=422, detail=f"width and height must be integers, got {value!r}"
        ) from None
