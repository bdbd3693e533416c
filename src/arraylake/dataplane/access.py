"""Who is calling, and the repos they may read, opened through the Arraylake service.

Callers authenticate with HTTP Basic (user name = the org, password = an API token) or a bearer token; on
a public deployment an anonymous request reads as the deployment's reader token. Repos are opened with the
project's own client and the caller's token, so the service checks the caller's read permission and vends
the storage credentials (refreshed as they expire): a caller never needs storage keys.

An opened repo is reused for ``STORE_CACHE_TTL`` seconds per (token, org, repo): a permission revoked on
the service takes effect here within that time. Tokens are kept only as the key of that cache (a digest)
and inside the client objects; they never reach a log or an error message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from arraylake.client import AsyncClient
from arraylake.exceptions import (
    ArraylakeAuthenticationError,
    ArraylakeError,
    ArraylakeHttpError,
    ArraylakeNotFoundError,
    ArraylakePermissionError,
    RepoOfflineError,
)

if TYPE_CHECKING:
    import icechunk

    from arraylake.dataplane.settings import DataPlaneSettings

logger = logging.getLogger(__name__)

MAX_CACHED_REPOS = 1024


@dataclass(frozen=True, slots=True)
class Caller:
    """The token a request reads with (``anonymous`` when a public deployment lent its reader token)."""

    token: str
    anonymous: bool = False

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.token.encode()).hexdigest()


def unauthorized(settings: DataPlaneSettings, detail: str) -> HTTPException:
    return HTTPException(
        status_code=401,
        detail=detail,
        headers={"WWW-Authenticate": f'Basic realm="Arraylake {settings.org}", charset="UTF-8"'},
    )


def caller_of(authorization: str | None, settings: DataPlaneSettings) -> Caller:
    """The caller named by an ``Authorization`` header; 401 when there is none on a private deployment
    or it is malformed."""
    if not authorization:
        if settings.is_public and settings.reader_token is not None:
            return Caller(settings.reader_token.get_secret_value(), anonymous=True)
        raise unauthorized(
            settings,
            f"this service needs credentials: HTTP Basic with user name {settings.org!r} and an Arraylake "
            "API token as password, or an Authorization: Bearer header",
        )
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return Caller(value)
    if scheme.lower() == "basic" and value:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized(settings, "malformed HTTP Basic credentials") from None
        if not sep or not password:
            raise unauthorized(settings, "HTTP Basic credentials need an API token as password")
        if user != settings.org:
            raise unauthorized(
                settings, f"the HTTP Basic user name must be the org, {settings.org!r} (got {user!r})"
            )
        return Caller(password)
    raise unauthorized(settings, "unsupported Authorization scheme: use Basic or Bearer")


def check_org(org: str, settings: DataPlaneSettings) -> None:
    """404 for a URL of another org than the deployment's."""
    if org != settings.org:
        raise HTTPException(
            status_code=404,
            detail=f"this service serves the repos of org {settings.org!r}, not {org!r}",
        )


def http_error_of(error: Exception, what: str) -> HTTPException:
    """The answer to a failure of the service (or the client) while opening ``what``."""
    if isinstance(error, ArraylakeAuthenticationError):
        return HTTPException(status_code=401, detail=f"the service refused the credentials: {_detail(error)}")
    if isinstance(error, ArraylakePermissionError):
        return HTTPException(status_code=403, detail=f"no permission to read {what}: {_detail(error)}")
    if isinstance(error, ArraylakeNotFoundError):
        return HTTPException(status_code=404, detail=f"{what} not found: {_detail(error)}")
    if isinstance(error, RepoOfflineError):
        return HTTPException(status_code=503, detail=str(error))
    if isinstance(error, ArraylakeHttpError) and 400 <= error.status_code < 500:
        return HTTPException(status_code=error.status_code, detail=_detail(error))
    logger.warning("opening %s failed: %s", what, type(error).__name__)
    return HTTPException(status_code=502, detail=f"the Arraylake service could not open {what}")


def _detail(error: ArraylakeHttpError) -> str:
    return str(error.detail) if error.detail is not None else str(error)


class RepoAccess:
    """Clients per token and repos per (token, org, repo), each kept ``ttl`` seconds."""

    def __init__(self, service_url: str, ttl: float):
        self.service_url = service_url
        self.ttl = ttl
        self._clients: dict[str, tuple[float, AsyncClient]] = {}
        self._repos: OrderedDict[tuple[str, str, str], tuple[float, Any]] = OrderedDict()
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}

    def client(self, caller: Caller) -> AsyncClient:
        """An API client acting as ``caller`` (401 when the token cannot be an Arraylake token)."""
        now = time.monotonic()
        found = self._clients.get(caller.digest)
        if found is not None and found[0] > now:
            return found[1]
        try:
            client = AsyncClient(service_uri=self.service_url, token=caller.token)
        except ValueError:
            raise HTTPException(status_code=401, detail="not an Arraylake API token") from None
        # Older clients stay referenced by the repos opened with them (their credentials refresh through
        # them) until those expire too.
        self._clients[caller.digest] = (now + max(self.ttl, 1.0), client)
        if len(self._clients) > MAX_CACHED_REPOS:
            self._clients = {k: v for k, v in self._clients.items() if v[0] > now}
        return client

    async def open(self, caller: Caller, org: str, repo: str) -> icechunk.Repository:
        """The Icechunk repository ``org/repo`` opened for reading as ``caller``; 401/403/404 with the
        service's detail when the caller may not read it."""
        key = (caller.digest, org, repo)
        now = time.monotonic()
        found = self._repos.get(key)
        if found is not None and found[0] > now:
            self._repos.move_to_end(key)
            return found[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            found = self._repos.get(key)
            if found is not None and found[0] > time.monotonic():
                return found[1]
            opened = await self._open(caller, org, repo)
            self._repos[key] = (time.monotonic() + self.ttl, opened)
            self._repos.move_to_end(key)
            while len(self._repos) > MAX_CACHED_REPOS:
                evicted, _ = self._repos.popitem(last=False)
                self._locks.pop(evicted, None)
        return opened

    async def _open(self, caller: Caller, org: str, repo: str) -> icechunk.Repository:
        import icechunk

        client = self.client(caller)
        what = f"repo {org}/{repo}"
        try:
            opened = await client.get_repo(f"{org}/{repo}", read_only=True)
        except ArraylakeError as error:
            raise http_error_of(error, what) from None
        if not isinstance(opened, icechunk.Repository):
            raise HTTPException(
                status_code=404,
                detail=f"{what} is a legacy V1 repo, which compute services do not serve: migrate it to "
                "Icechunk (arraylake repo migrate)",
            )
        return opened

    async def list_repos(self, caller: Caller, org: str) -> list[str]:
        """The names of the org's repos the caller may see."""
        try:
            repos = await self.client(caller).list_repos(org)
        except ArraylakeError as error:
            raise http_error_of(error, f"the repos of org {org}") from None
        return [r.name for r in repos]
