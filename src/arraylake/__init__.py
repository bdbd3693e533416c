"""Arraylake, open and self-hosted: the Python client.

``Client`` and ``AsyncClient`` talk to an Arraylake service; the service itself lives in
``arraylake.server`` (install the ``server`` extra).
"""

from arraylake._version import __version__
from arraylake.client import AsyncClient, Client
from arraylake.config import config

__all__ = ["AsyncClient", "Client", "__version__", "config"]
