"""The Arraylake client: :class:`AsyncClient` (the core) and :class:`Client` (its synchronous facade).

Example::

    from arraylake import Client

    client = Client()                      # service_uri and token from configuration
    repo = client.create_repo("my-org/my-repo")
    session = repo.writable_session("main")
    ...

One module per job: ``uris`` (bucket URIs); ``buckets``, ``opening`` (``/open`` and the storage and
credentials a repo opens with) and ``repos``, each a group of methods on ``base``; ``async_client``
(:class:`AsyncClient`, composed of them and of :mod:`arraylake.access`); ``sync_client`` (:class:`Client`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from arraylake.client.async_client import AsyncClient
from arraylake.client.base import icechunk
from arraylake.client.repos import DELETION_POLL_SECONDS
from arraylake.client.sync_client import Client
from arraylake.client.uris import parse_bucket_uri

if TYPE_CHECKING:
    from arraylake.client.base import IcechunkRepository as IcechunkRepository
    from arraylake.client.base import RepoConfig as RepoConfig

__all__ = ["DELETION_POLL_SECONDS", "AsyncClient", "Client", "parse_bucket_uri"]


def __getattr__(name: str) -> Any:
    # The documented annotation aliases, without importing icechunk with this module.
    if name == "RepoConfig":
        return icechunk.RepositoryConfig | None
    if name == "IcechunkRepository":
        return icechunk.Repository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
