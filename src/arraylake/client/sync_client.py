"""The synchronous client: :class:`Client`, a facade that runs :class:`AsyncClient` on a background loop."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING

from arraylake.client.async_client import AsyncClient
from arraylake.client.io_loop import blocking, run_sync

if TYPE_CHECKING:
    from arraylake.client.base import OpenedRepo, RepoConfig
    from arraylake.client.compute import ComputeClient

ASYNC_ONLY = frozenset({"aclose", "get_repo_blocking"})
"""Public coroutines of :class:`AsyncClient` that :class:`Client` does without: ``aclose`` closes the
connections of the caller's loop (``Client``'s run on their own), ``get_repo_blocking`` is how
``Client.get_repo`` opens."""


def mirrors_async_client[C: type](cls: C) -> C:
    """Give ``cls`` a blocking twin of every public coroutine of :class:`AsyncClient` it does not define
    itself (with the coroutine's name, docstring and signature), so a new coroutine appears on both.

    Type checkers read ``sync_client.pyi`` instead of this module; ``python -m arraylake.client.stubgen``
    writes it again from these classes."""
    for name, member in inspect.getmembers(AsyncClient, inspect.iscoroutinefunction):
        if name.startswith("_") or name in ASYNC_ONLY or name in vars(cls):
            continue
        twin = _sync_repos(blocking(member))
        twin.__qualname__ = f"{cls.__qualname__}.{name}"
        twin.__module__ = cls.__module__
        setattr(cls, name, twin)
    return cls


def _sync_repos[**P, R](call: Callable[P, R]) -> Callable[P, R]:
    """``call``, with the V1 ``AsyncRepo`` it returns given as the synchronous ``Repo``."""

    @functools.wraps(call)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        result = call(*args, **kwargs)
        facade = getattr(type(result), "_sync_facade", None)
        return facade(result) if facade is not None else result  # type: ignore[no-any-return]

    return wrapped


@mirrors_async_client
class Client:
    """Client for an Arraylake service (synchronous).

    Every method of :class:`AsyncClient`, run to completion on a background event loop, so this works in
    scripts and inside Jupyter's running loop alike.

    Args:
        service_uri: The service to talk to. Defaults to the ``service.uri`` config key
            (``ARRAYLAKE_SERVICE__URI``).
        token: An API token (``ema_...``). Defaults to the ``token`` config key (``ARRAYLAKE_TOKEN``);
            without one, the client uses the login saved by :meth:`login`.
    """

    aclient: AsyncClient
    service_uri: str
    token: str | None

    def __init__(self, service_uri: str | None = None, token: str | None = None):
        self.aclient = AsyncClient(service_uri, token)
        self.service_uri = self.aclient.service_uri
        self.token = self.aclient.token

    def __repr__(self) -> str:
        return f"Client(service_uri={self.service_uri!r})"

    def get_repo(
        self,
        name: str,
        *,
        checkout: bool | None = None,
        read_only: bool | None = None,
        config: RepoConfig = None,
        virtual_container_nicknames: dict[str, str] | None = None,
    ) -> OpenedRepo:
        # Every job opens its repo here, so the common case runs in the caller's thread.
        if virtual_container_nicknames:
            return _sync_repos(run_sync)(
                self.aclient.get_repo(
                    name,
                    checkout=checkout,
                    read_only=read_only,
                    config=config,
                    virtual_container_nicknames=virtual_container_nicknames,
                )
            )
        return self.aclient.get_repo_blocking(name, checkout=checkout, read_only=read_only, config=config)

    get_repo.__doc__ = AsyncClient.get_repo.__doc__

    def get_services(self, org: str) -> ComputeClient:
        return self.aclient.get_services(org).to_sync_client()

    get_services.__doc__ = AsyncClient.get_services.__doc__
