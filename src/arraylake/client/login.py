"""Logging in with the OAuth 2.0 device authorization grant (RFC 8628), against the service itself.

The service says where to log in (``/auth/config``); the client asks for a device code, shows the user a
URL and a code (or opens the browser), polls until the user approves, and saves the tokens. The id token is
then the bearer of every request; a 401 triggers one refresh.
"""

from __future__ import annotations

import asyncio
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from arraylake.client.token_file import delete_tokens, read_tokens, token_path, write_tokens
from arraylake.exceptions import ArraylakeAuthenticationError, ArraylakeConnectionError
from arraylake.types import DeviceAuthorizationResponse, OAuthConfig, OAuthTokens

SCOPE = "openid profile email offline_access"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class Endpoints:
    client_id: str
    device: str
    token: str
    revoke: str | None


def _auth_error(message: str) -> ArraylakeAuthenticationError:
    return ArraylakeAuthenticationError(message, status_code=401)


async def endpoints(http: httpx.AsyncClient, service_uri: str) -> Endpoints:
    """Discover the login endpoints; ``domain`` alone is reached with the service URI's own scheme."""
    try:
        response = await http.get(f"{service_uri.rstrip('/')}/auth/config", params={"target": "client"})
    except httpx.HTTPError as exc:
        raise ArraylakeConnectionError(
            f"could not reach {service_uri} to log in: {type(exc).__name__}"
        ) from exc
    if response.status_code != 200:
        raise _auth_error(f"the service at {service_uri} offers no login (HTTP {response.status_code})")
    cfg = OAuthConfig.model_validate(response.json())
    base = f"{urlsplit(service_uri).scheme}://{cfg.domain}"
    return Endpoints(
        client_id=cfg.client_id,
        device=cfg.device_authorization_endpoint or f"{base}/oauth/device/code",
        token=cfg.token_endpoint or f"{base}/oauth/token",
        revoke=cfg.revocation_endpoint,
    )


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "invalid_response", response.text[:200]
    return str(body.get("error", "invalid_response")), str(body.get("error_description", ""))


def show_code(authorization: DeviceAuthorizationResponse, browser: bool) -> None:
    """Tell the user where to approve the login (and open it, with ``browser``)."""
    print(f"To log in, open {authorization.verification_uri_complete}")
    print(f"and check that it shows the code {authorization.user_code}")
    if browser:
        webbrowser.open(authorization.verification_uri_complete)


async def device_login(
    http: httpx.AsyncClient,
    ep: Endpoints,
    *,
    on_code: Callable[[DeviceAuthorizationResponse], None],
) -> OAuthTokens:
    """Run the device flow until the user approves (or denies, or the code expires)."""
    started = await http.post(ep.device, data={"client_id": ep.client_id, "scope": SCOPE})
    if started.status_code != 200:
        error, description = _oauth_error(started)
        raise _auth_error(f"the service refused to start a login: {error} {description}".strip())
    authorization = DeviceAuthorizationResponse.model_validate(started.json())
    on_code(authorization)
    interval = max(1, authorization.interval)
    deadline = time.monotonic() + authorization.expires_in
    while time.monotonic() < deadline:
        await asyncio.sleep(interval)
        polled = await http.post(
            ep.token,
            data={
                "grant_type": DEVICE_GRANT,
                "device_code": authorization.device_code,
                "client_id": ep.client_id,
            },
        )
        if polled.status_code == 200:
            return OAuthTokens.model_validate(polled.json())
        error, description = _oauth_error(polled)
        if error == "authorization_pending":
            continue
        if error == "slow_down":
            interval += 5  # RFC 8628 section 3.5
            continue
        if error == "access_denied":
            raise _auth_error("the login was denied in the browser")
        if error == "expired_token":
            raise _auth_error("the login code expired before it was approved; log in again")
        raise _auth_error(f"login failed: {error}: {description}")
    raise _auth_error("the login code expired before it was approved; log in again")


async def refresh(http: httpx.AsyncClient, ep: Endpoints, tokens: OAuthTokens) -> OAuthTokens:
    """New tokens for a refresh token (the service replaces the refresh token too)."""
    response = await http.post(
        ep.token,
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens.refresh_token,
            "client_id": ep.client_id,
        },
    )
    if response.status_code != 200:
        _, description = _oauth_error(response)
        raise _auth_error(f"your login has ended ({description or 'refresh refused'}); log in again")
    fresh = response.json()
    fresh.setdefault("refresh_token", tokens.refresh_token)
    return OAuthTokens.model_validate(fresh)


async def revoke(http: httpx.AsyncClient, ep: Endpoints, tokens: OAuthTokens) -> None:
    if ep.revoke:
        await http.post(
            ep.revoke,
            data={
                "token": tokens.refresh_token,
                "token_type_hint": "refresh_token",
                "client_id": ep.client_id,
            },
        )


class LoginAuth:
    """Bearer credentials from the token file of a login, refreshed once when the service answers 401."""

    def __init__(self, service_uri: str):
        self.service_uri = service_uri
        self.path = token_path(service_uri)
        self._lock = asyncio.Lock()
        self._tokens: OAuthTokens | None = None

    def _current(self) -> OAuthTokens:
        tokens = read_tokens(self.path)
        if tokens is None:
            raise _auth_error(
                "not logged in: run `arraylake auth login` (or Client().login()), "
                "or use an API token (Client(token=...) or ARRAYLAKE_TOKEN)"
            )
        return tokens

    def authorization(self) -> str:
        self._tokens = self._current()
        return f"Bearer {self._tokens.id_token}"

    async def refresh(self, rejected: str) -> bool:
        """Refresh after a 401 on ``rejected`` (the header that was refused); whether to retry."""
        async with self._lock:
            tokens = self._current()
            if f"Bearer {tokens.id_token}" != rejected:
                return True  # another request refreshed meanwhile
            async with httpx.AsyncClient(timeout=30) as http:
                ep = await endpoints(http, self.service_uri)
                fresh = await refresh(http, ep, tokens)
            write_tokens(self.path, fresh)
            return True

    def forget(self) -> bool:
        return delete_tokens(self.path)
