"""Serve the ``main`` branch of a local Icechunk repo over our DAP2 plugin, in a process of its own, so that
a test can measure that process's memory while it streams: ``python dap2_server.py REPO_PATH PORT``."""

from __future__ import annotations

import sys

import icechunk
import uvicorn
import xarray as xr
import xpublish

from arraylake.dataplane.dap2 import Dap2Plugin


def main(repo_path: str, port: int) -> None:
    repo = icechunk.Repository.open(icechunk.local_filesystem_storage(repo_path))
    dataset = xr.open_zarr(repo.readonly_session("main").store, consolidated=False, chunks={})
    rest = xpublish.Rest({"big": dataset}, plugins={"opendap": Dap2Plugin()})
    uvicorn.run(rest.app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
