"""The Arraylake client: :class:`AsyncClient` (the core) and :class:`Client` (its synchronous facade).

Example::

    from arraylake import Client

    client = Client()                      # service_uri and token from configuration
    repo = client.create_repo("my-org/my-repo")
    session = repo.writable_session("main")
    ...

Only the client uses this package; what it shares with the service (``arraylake.types``, ``names``,
``exceptions``, ``storage``) stays at the top level. One module per job: ``async_client``
(:class:`AsyncClient`, composed of one group of methods per resource: ``repos``, ``opening`` (``/open``),
``buckets``, ``orgs``, on ``base``); ``sync_client`` (:class:`Client`, generated from it, run on
``io_loop``); ``transport`` (HTTP); ``storage_credentials`` (the refresher Icechunk calls); ``login`` and
``token_file`` (the saved user login); ``uris`` (bucket URIs); ``compute`` (an org's compute services, from
``get_services``). Modules load on first use, so the command line imports only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arraylake.client.async_client import AsyncClient as AsyncClient
    from arraylake.client.base import IcechunkRepository as IcechunkRepository
    from arraylake.client.base import RepoConfig as RepoConfig
    from arraylake.client.repos import DELETION_POLL_SECONDS as DELETION_POLL_SECONDS
    from arraylake.client.sync_client import Client as Client
    from arraylake.client.uris import parse_bucket_uri as parse_bucket_uri

__all__ = ["DELETION_POLL_SECONDS", "AsyncClient", "Client", "parse_bucket_uri"]

_HOMES = {
    "AsyncClient": "arraylake.client.async_client",
    "Client": "arraylake.client.sync_client",
    "DELETION_POLL_SECONDS": "arraylake.client.repos",
    "parse_bucket_uri": "arraylake.client.uris",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    # The documented annotation aliases, without importing icechunk with this module.
    from arraylake.client.base import icechunk

    if name == "RepoConfig":
        return icechunk.RepositoryConfig | None
    if name == "IcechunkRepository":
        return icechunk.Repository
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
