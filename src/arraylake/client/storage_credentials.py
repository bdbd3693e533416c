"""Storage credentials from the service, refreshed for Icechunk when they near expiry.

Icechunk calls a credentials provider whenever the credentials it holds are about to expire. It pickles the
provider and calls a fresh copy each time (also in Dask workers), so the provider is a small importable
class and the cache lives at module level: one per process, shared by every repo object of the process.
Providers ask through the transport of the client that made them (see :func:`share_transport`); in another
process, through one transport per (service, caller).

With ``scatter_initial_credentials`` Icechunk calls the provider once where the storage is built and ships
the answer to Dask workers with the task graph, so workers do not each ask the service. The first answer
comes from the cache, seeded with the credentials the service already sent with ``/open``.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from arraylake._lazy import lazy_module
from arraylake.client.login import LoginAuth
from arraylake.client.transport import TokenAuth, Transport, TransportSettings
from arraylake.types import AnyCredentials, AzureCredentials, GSCredentials, S3Credentials, utcnow

if TYPE_CHECKING:
    import icechunk
else:
    icechunk = lazy_module("icechunk")

Access = Literal["read", "write"]
# Hand out cached credentials only while they have this much life left (or half their life, if shorter).
REUSE_MARGIN = timedelta(minutes=5)

_lock = threading.Lock()
_cache: dict[tuple[str, ...], tuple[AnyCredentials, timedelta]] = {}
fetches = 0
"""How many times this process asked the service for credentials (for tests and benchmarks)."""
# One transport per (service, caller) and process: refreshes reuse its connection and its retries.
_transports: dict[tuple[str, str], Transport] = {}


def _caller(token: str | None) -> str:
    return hashlib.sha256((token or "login").encode()).hexdigest()[:16]


def share_transport(service_uri: str, token: str | None, transport: Transport) -> None:
    """Let the providers of this process for (service, caller) ask through ``transport`` (a client's), so
    a client and its refreshes share one connection pool, its retries and its login."""
    with _lock:
        _transports[(service_uri, _caller(token))] = transport


def _usable(entry: tuple[AnyCredentials, timedelta] | None) -> AnyCredentials | None:
    if entry is None:
        return None
    credentials, lifetime = entry
    if credentials.expiration is None:
        return credentials
    margin = min(REUSE_MARGIN, lifetime / 2)
    return credentials if credentials.expiration - utcnow() > margin else None


def parse_credentials(body: dict) -> AnyCredentials:
    """Credentials of any platform, told apart by their fields."""
    if "access_token" in body:
        return GSCredentials.model_validate(body)
    if "sas_token" in body:
        return AzureCredentials.model_validate(body)
    return S3Credentials.model_validate(body)


def _to_icechunk(credentials: AnyCredentials) -> Any:
    if isinstance(credentials, GSCredentials):
        return icechunk.GcsBearerCredential(
            credentials.access_token.get_secret_value(), expires_after=credentials.expiration
        )
    if not isinstance(credentials, S3Credentials):
        raise TypeError(f"{type(credentials).__name__} cannot be refreshed through icechunk")
    return icechunk.S3StaticCredentials(
        access_key_id=credentials.aws_access_key_id,
        secret_access_key=credentials.aws_secret_access_key.get_secret_value(),
        session_token=credentials.aws_session_token.get_secret_value()
        if credentials.aws_session_token
        else None,
        expires_after=credentials.expiration,
    )


@dataclass(frozen=True)
class ServiceCredentials:
    """Fetches credentials from a service endpoint; picklable, cached per process.

    ``path`` is the endpoint: ``/repos/ORG/REPO/bucket-credentials``, ``/orgs/ORG/buckets/ID/credentials``,
    or ``/repos/ORG/REPO/virtual-chunk-credentials`` with ``container`` the URL prefix of the virtual chunk
    container; ``token`` an API token, or ``None`` to use the saved login.
    """

    service_uri: str
    path: str
    access: Access | None
    token: str | None = None
    container: str | None = None

    def _key(self) -> tuple[str, ...]:
        return (self.service_uri, self.path, self.access or "", self.container or "", _caller(self.token))

    def seed(self, credentials: AnyCredentials) -> None:
        """Remember credentials obtained otherwise (e.g. with ``/open``)."""
        lifetime = (credentials.expiration - utcnow()) if credentials.expiration else timedelta(0)
        with _lock:
            _cache[self._key()] = (credentials, lifetime)

    def current(self) -> AnyCredentials:
        with _lock:
            cached = _usable(_cache.get(self._key()))
        if cached is not None:
            return cached
        credentials = self._fetch()
        self.seed(credentials)
        return credentials

    def __call__(self) -> Any:
        return _to_icechunk(self.current())

    def _transport(self) -> Transport:
        key = (self.service_uri, _caller(self.token))
        with _lock:
            transport = _transports.get(key)
            if transport is None:
                auth = TokenAuth(self.token) if self.token else LoginAuth(self.service_uri)
                # This provider exists because the service handed out the first credentials.
                transport = _transports[key] = Transport(
                    self.service_uri, auth, TransportSettings.from_config(), reached=True
                )
        return transport

    def _fetch(self) -> AnyCredentials:
        global fetches
        with _lock:
            fetches += 1
        params: dict[str, str] = {"access": self.access} if self.access else {}
        if self.container is not None:
            params["url_prefix"] = self.container
        body = self._transport().request_blocking("GET", self.path, params=params or None).json()
        if self.container is not None:  # a VirtualChunkCredentials: the grant, with its credentials
            body = body.get("credentials")
        if body is None:
            raise ValueError(f"the service has no credentials to hand out at {self.path}")
        return parse_credentials(body)
