"""The asyncio client: :class:`AsyncClient`, the core, composed of one group of methods per resource."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from arraylake.client import login as login_flow
from arraylake.client.audit import AuditMethods
from arraylake.client.buckets import BucketMethods
from arraylake.client.login import LoginAuth
from arraylake.client.maintenance import MaintenanceMethods
from arraylake.client.orgs import OrgMethods
from arraylake.client.repos import RepoMethods
from arraylake.client.token_file import read_tokens, write_tokens
from arraylake.client.transport import Auth, TokenAuth, Transport, TransportSettings
from arraylake.config import config as _config
from arraylake.exceptions import ArraylakeError
from arraylake.types import DeviceAuthorizationResponse

if TYPE_CHECKING:
    from arraylake.client.compute import AsyncComputeClient


class AsyncClient(RepoMethods, BucketMethods, OrgMethods, MaintenanceMethods, AuditMethods):
    """Asyncio client for an Arraylake service.

    Args:
        service_uri: The service to talk to. Defaults to the ``service.uri`` config key
            (``ARRAYLAKE_SERVICE__URI``).
        token: An API token (``ema_...``). Defaults to the ``token`` config key (``ARRAYLAKE_TOKEN``);
            without one, the client uses the login saved by :meth:`login`.
    """

    def __init__(self, service_uri: str | None = None, token: str | None = None):
        self.service_uri: str = service_uri or _config.get("service.uri")
        self.token: str | None = token if token is not None else _config.get("token", None)
        if self.token is not None and not str(self.token).startswith(("ema_", "ey")):
            raise ValueError(
                "Arraylake API tokens start with 'ema_'; check the token you passed or configured"
            )
        self._login = LoginAuth(self.service_uri)
        auth: Auth = TokenAuth(self.token) if self.token else self._login
        self._transport = Transport(self.service_uri, auth, TransportSettings.from_config())

    def __repr__(self) -> str:
        return f"AsyncClient(service_uri={self.service_uri!r})"

    async def aclose(self) -> None:
        """Close this loop's HTTP connections."""
        await self._transport.aclose()

    async def login(
        self,
        *,
        browser: bool = False,
        on_code: Callable[[DeviceAuthorizationResponse], None] | None = None,
    ) -> None:
        """Log in to the service as a user (OAuth device flow); the login is saved for later clients.

        Args:
            browser: Open the approval page in a browser; otherwise print its URL and the code.
            on_code: Called with the device authorization instead of printing it (for other front ends).
        """
        async with httpx.AsyncClient(timeout=30) as http:
            ep = await login_flow.endpoints(http, self.service_uri)
            tokens = await login_flow.device_login(
                http, ep, on_code=on_code or (lambda auth: login_flow.show_code(auth, browser))
            )
        write_tokens(self._login.path, tokens)
        user = await self.get_user()
        if on_code is None:
            print(f"Logged in to {self.service_uri} as {user.email}")

    async def logout(self) -> None:
        """End the saved login: revoked on the service, removed from disk."""
        tokens = read_tokens(self._login.path)
        if tokens is None:
            print("Not logged in")
            return
        async with httpx.AsyncClient(timeout=30) as http:
            with contextlib.suppress(httpx.HTTPError, ArraylakeError):
                await login_flow.revoke(http, await login_flow.endpoints(http, self.service_uri), tokens)
        self._login.forget()
        print(f"Logged out of {self.service_uri}")

    def get_services(self, org: str) -> AsyncComputeClient:
        """The compute services of an org: enable, list, inspect, resize and disable the deployments that
        serve its repos over EDR, WMS, Tiles, DAP2 or Zarr (sharing this client's connection and login)."""
        from arraylake.client.compute import AsyncComputeClient

        return AsyncComputeClient(self.service_uri, self.token, org, transport=self._transport)
