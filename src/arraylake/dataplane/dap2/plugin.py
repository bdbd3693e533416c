"""The OPeNDAP DAP2 xpublish plugin: ``{prefix}.dds``, ``{prefix}.das``, ``{prefix}.dods`` and
``{prefix}.ver`` on each dataset, so that a client opens ``.../datasets/{id}/opendap`` as the dataset URL."""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr
from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import Field
from xpublish import Dependencies, Plugin, hookimpl

from arraylake.dataplane.dap2 import xdr
from arraylake.dataplane.dap2.constraint import parse_constraint
from arraylake.dataplane.dap2.model import dap_dataset
from arraylake.dataplane.dap2.text import dataset_dds, declaration, render_das, render_dds
from arraylake.dataplane.limits import Limits, MiB, check_size

SERVER_HEADERS = {"XDODS-Server": "dods/3.2", "XOPeNDAP-Server": "arraylake-dap2/1.0", "XDAP": "2.0"}
_DEFAULTS = Limits()


class Dap2Plugin(Plugin):
    """OPeNDAP DAP2 over the CF-encoded dataset, with hyperslab projections and a streamed ``.dods``."""

    name: str = "opendap"
    dataset_router_prefix: str = Field("/opendap", pattern=r"^/\S+[^/]$")
    dataset_router_tags: Sequence[str] = ["opendap"]
    max_response_bytes: int = _DEFAULTS.max_response_bytes
    """The most a ``.dods`` response builds whole: its strings, and one block of an array (a block holds
    whole source chunks up to this size, so that no chunk is read twice)."""
    max_stream_bytes: int = _DEFAULTS.max_stream_bytes
    """The largest ``.dods`` response (413 above it)."""
    block_bytes: int = 16 * MiB
    """How much of an array one block of a ``.dods`` response computes at a time."""

    @hookimpl
    def dataset_router(self, deps: Dependencies) -> APIRouter:
        router = APIRouter(tags=list(self.dataset_router_tags))
        prefix = self.dataset_router_prefix

        @router.get(f"{prefix}.dds", response_class=PlainTextResponse, summary="DAP2 dataset structure")
        def dds(request: Request, dataset: xr.Dataset = Depends(deps.dataset)) -> PlainTextResponse:
            dap = dap_dataset(dataset)
            if request.url.query:
                projections = parse_constraint(request.url.query, dap)
                text = render_dds(declaration(p.variable, p.shape) for p in projections)
            else:
                text = dataset_dds(dap)
            return _text(text, "dods_dds")

        @router.get(f"{prefix}.das", response_class=PlainTextResponse, summary="DAP2 dataset attributes")
        def das(dataset: xr.Dataset = Depends(deps.dataset)) -> PlainTextResponse:
            return _text(render_das(dap_dataset(dataset)), "dods_das")

        @router.get(
            f"{prefix}.dods",
            response_class=StreamingResponse,
            summary="DAP2 data: the DDS of the projection, then its values in XDR, streamed",
        )
        def dods(request: Request, dataset: xr.Dataset = Depends(deps.dataset)) -> StreamingResponse:
            projections = parse_constraint(request.url.query, dap_dataset(dataset))
            head = (render_dds(declaration(p.variable, p.shape) for p in projections) + "Data:\n").encode()
            data = xdr.plan(
                projections,
                block_bytes=min(self.block_bytes, self.max_response_bytes),
                max_response_bytes=self.max_response_bytes,
            )
            total = len(head) + data.nbytes
            check_size(
                total,
                self.max_stream_bytes,
                what="This DAP2 response",
                narrow="fewer variables or hyperslabs of them, e.g. air[0:1:9][0:2:100][0:2:200]",
            )
            return StreamingResponse(
                xdr.stream(head, data),
                media_type="application/octet-stream",
                headers={
                    **SERVER_HEADERS,
                    "Content-Description": "dods_data",
                    "Content-Length": str(total),
                },
            )

        @router.get(f"{prefix}.ver", response_class=PlainTextResponse, summary="DAP2 server version")
        def version() -> PlainTextResponse:
            return _text("Core version: dods/3.2\nServer version: arraylake-dap2/1.0\n", "dods_version")

        return router


def _text(text: str, description: str) -> PlainTextResponse:
    return PlainTextResponse(text, headers={**SERVER_HEADERS, "Content-Description": description})
