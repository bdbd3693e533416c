"""Arraylake, open and self-hosted: the Python client.

``Client`` and ``AsyncClient`` talk to an Arraylake service; the service itself lives in
``arraylake.server`` (install the ``server`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arraylake._version import __version__
from arraylake.config import config

if TYPE_CHECKING:
    from arraylake.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client", "__version__", "config"]


def __getattr__(name: str) -> Any:
    # The client (httpx, pydantic models) loads on first use: `arraylake config ...` and
    # `arraylake --help` never need it.
    if name in ("AsyncClient", "Client"):
        from arraylake import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
