"""The credential vendor: the one place that turns (principal, bucket, prefix, access) into credentials.

* ``anonymous`` and ``local`` buckets need none;
* ``hmac`` buckets hand out their static keys (to principals allowed to read there);
* ``sts_assume_role`` and ``aws_customer_managed_role`` buckets get an STS session per
  (principal, bucket, prefix, access), limited by a session policy to that prefix;
* ``gcp_customer_managed_role`` buckets a downscoped token of the customer's service account, and
  ``azure_credential_delegation`` buckets a user delegation SAS (see ``cloud``).

Answers are cached per process and shared by concurrent requests: however many workers of a Dask cluster
ask at once, one call to the provider is made per key and lifetime. A cached answer is handed out while
more than half its lifetime (at most 10 minutes) remains, so clients always get time to use it.

Every credential handed to a principal is recorded in the audit log (``credentials.audit``) before it is
handed out: once per provider call, and for static HMAC keys once per principal and key per
:data:`STATIC_RECORD_SECONDS`, so that a Dask cluster opening a repo a hundred times writes one entry. A
cached answer touches no database. The service's own credentials are recorded when a provider issues them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server import metrics
from arraylake.server.credentials.audit import Vend, record_vend
from arraylake.server.credentials.binding import BINDING_PATTERN, BindingMissing
from arraylake.server.credentials.cloud import AzureDelegation, GcsDelegation
from arraylake.server.credentials.s3_sts import AssumeRoleRequest, assume_role, session_policy
from arraylake.server.egress import EndpointNotAllowed, EndpointUnreachable
from arraylake.server.errors import Forbidden, InvalidInput, ServiceError, StorageRefused
from arraylake.server.logs import get_logger
from arraylake.server.settings import ServerSettings
from arraylake.storage import credentials_from_bucket
from arraylake.types import (
    AnyCredentials,
    AuthConfig,
    AWSCustomerManagedRoleAuth,
    AzureCredentialDelegationAuth,
    AzureCredentials,
    BucketResponse,
    GCPCustomerManagedRoleAuth,
    GSCredentials,
    HmacAuth,
    Platform,
    S3Credentials,
    StsAssumeRoleAuth,
    utcnow,
)

MAX_REUSE_MARGIN = timedelta(minutes=10)
STATIC_RECORD_SECONDS = 600.0
"""How long a handout of static keys to a principal is not recorded again."""
SERVICE_PRINCIPAL = "arraylake-service"
log = get_logger("arraylake.server.credentials")


@dataclass(frozen=True)
class _Key:
    principal_id: str
    bucket_id: str
    auth_fingerprint: str
    prefix: str
    write: bool


@dataclass
class _Cached:
    credentials: AnyCredentials
    reuse_until: float


def _fingerprint(bucket: BucketResponse) -> str:
    data = bucket.auth_config.model_dump(mode="json") if bucket.auth_config else {}
    data["_endpoint"] = bucket.extra_config.get("endpoint_url")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class CredentialVendor:
    def __init__(
        self, settings: ServerSettings, engine: AsyncEngine | None = None, max_entries: int = 10_000
    ):
        """``engine``: the catalog, where vends are recorded (``None``: not recorded, e.g. in a CLI tool)."""
        self.settings = settings
        self.engine = engine
        self._max_entries = max_entries
        self._cache: OrderedDict[_Key, _Cached] = OrderedDict()
        self._static_recorded: OrderedDict[_Key, float] = OrderedDict()
        self._inflight: dict[_Key, asyncio.Future[AnyCredentials]] = {}
        self.provider_calls = 0

    async def credentials(
        self,
        bucket: BucketResponse,
        prefix: str,
        *,
        write: bool,
        principal_id: str,
        may_write: bool | None = None,
    ) -> AnyCredentials | None:
        """Credentials for ``prefix`` of ``bucket``, read-only unless ``write``; ``None`` if not needed.

        ``may_write``: whether the principal may write there (default: ``write``); HMAC buckets restricted
        to writers hand their keys to no one else.
        """
        auth = bucket.auth_config
        if bucket.platform == Platform.LOCAL or auth is None:
            return None
        try:
            return await self._vend(bucket, auth, prefix, write, principal_id, may_write)
        except Exception as exc:
            refused = isinstance(exc, ServiceError) and exc.status_code < 500
            metrics.CREDENTIAL_VENDS.labels(auth.method, "refused" if refused else "failed").inc()
            raise

    async def _vend(
        self,
        bucket: BucketResponse,
        auth: AuthConfig,
        prefix: str,
        write: bool,
        principal_id: str,
        may_write: bool | None,
    ) -> AnyCredentials | None:
        if (
            isinstance(auth, HmacAuth)
            and auth.writers_only
            and not (write if may_write is None else may_write)
        ):
            raise Forbidden(
                f"bucket config {bucket.nickname!r} holds bucket-wide HMAC keys that can write, and its "
                "admins hand them only to principals who may write; you may only read here"
            )
        if auth.method in ("anonymous", "hmac"):
            credentials = credentials_from_bucket(bucket)
            if credentials is not None and principal_id != SERVICE_PRINCIPAL:
                await self._record_static(bucket, prefix, write, principal_id)
            metrics.CREDENTIAL_VENDS.labels(auth.method, "static").inc()
            return credentials
        fetch: Callable[[], Awaitable[AnyCredentials]]
        if isinstance(auth, StsAssumeRoleAuth | AWSCustomerManagedRoleAuth):
            request = self._assume_role_request(bucket, prefix, write=write, principal_id=principal_id)
            checked = request.endpoint_url if isinstance(auth, StsAssumeRoleAuth) else None
            fetch = lambda: self._assume_role(request, checked, bucket)  # noqa: E731
        elif isinstance(auth, GCPCustomerManagedRoleAuth):
            target, label = auth.target_service_account, _required_binding(bucket, auth.org_binding_label)
            fetch = lambda: self._gcs(target, bucket.name, prefix, write, label)  # noqa: E731
        elif isinstance(auth, AzureCredentialDelegationAuth):
            tenant, account = auth.tenant_id, auth.storage_account
            metadata = _required_binding(bucket, auth.org_binding_metadata)
            fetch = lambda: self._azure(tenant, account, bucket.name, write, metadata)  # noqa: E731
        else:
            raise InvalidInput(
                f"bucket config {bucket.nickname!r}: auth method {auth.method} cannot vend credentials"
            )
        return await self._cached(bucket, prefix, write, principal_id, fetch, auth.method)

    async def for_service(self, bucket: BucketResponse, prefix: str) -> AnyCredentials | None:
        """Read-write credentials for the service's own work on a repo (checks, deletion). Every such
        connection to the bucket's endpoint starts here, so this is where the endpoint is checked."""
        await self.check_endpoint(bucket)
        return await self.credentials(bucket, prefix, write=True, principal_id=SERVICE_PRINCIPAL)

    async def check_endpoint(self, bucket: BucketResponse) -> None:
        """Refuse to connect to the bucket's endpoint unless the operator allows its addresses now."""
        endpoint = bucket.extra_config.get("endpoint_url")
        if endpoint:
            await self._check_endpoint(str(endpoint), "endpoint_url", bucket)

    async def _assume_role(
        self, request: AssumeRoleRequest, endpoint: str | None, bucket: BucketResponse
    ) -> S3Credentials:
        # Checked when STS is actually called, not for answers from the cache: the hot path stays lean.
        if endpoint:
            await self._check_endpoint(endpoint, "sts_endpoint_url", bucket)
        return await assume_role(request)

    async def _check_endpoint(self, url: str, what: str, bucket: BucketResponse) -> None:
        try:
            await self.settings.endpoint_policy.check_connect_async(url, what)
        except EndpointNotAllowed as exc:
            log.warning("endpoint refused", bucket=bucket.nickname, reason=str(exc))
            raise StorageRefused(f"bucket config {bucket.nickname!r}: {exc}") from exc
        except EndpointUnreachable as exc:
            # A name that does not resolve is a typo far more often than a passing DNS failure.
            log.warning("endpoint does not resolve", bucket=bucket.nickname, endpoint=url)
            raise StorageRefused(f"bucket config {bucket.nickname!r}: {exc}") from exc

    async def _cached(
        self,
        bucket: BucketResponse,
        prefix: str,
        write: bool,
        principal_id: str,
        fetch: Callable[[], Awaitable[AnyCredentials]],
        method: str,
    ) -> AnyCredentials:
        """One fetch per key and lifetime, shared by concurrent callers."""
        key = _Key(principal_id, str(bucket.id), _fingerprint(bucket), prefix, write)
        cached = self._cache.get(key)
        if cached is not None and cached.reuse_until > time.monotonic():
            self._cache.move_to_end(key)
            metrics.CREDENTIAL_VENDS.labels(method, "reused").inc()
            return cached.credentials
        pending = self._inflight.get(key)
        if pending is not None:
            credentials = await asyncio.shield(pending)
            metrics.CREDENTIAL_VENDS.labels(method, "reused").inc()
            return credentials
        future: asyncio.Future[AnyCredentials] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            credentials = await fetch()
            self.provider_calls += 1
            await self._record(bucket, prefix, write, principal_id, _lifetime_seconds(credentials))
            metrics.CREDENTIAL_VENDS.labels(method, "issued").inc()
            log.info(
                "sts session issued",
                bucket=bucket.nickname,
                prefix=prefix,
                access="write" if write else "read",
                principal=principal_id,
                expires=credentials.expiration.isoformat() if credentials.expiration else None,
            )
            self._remember(key, credentials)
            future.set_result(credentials)
            return credentials
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._inflight[key]

    async def _record(
        self, bucket: BucketResponse, prefix: str, write: bool, principal_id: str, lifetime: int | None
    ) -> None:
        """Write the vend's audit entry; credentials are not handed out if that fails."""
        if self.engine is not None:
            vend = Vend(bucket, prefix, write, principal_id, lifetime)
            await record_vend(self.engine, vend, service_principal=SERVICE_PRINCIPAL)

    async def _record_static(
        self, bucket: BucketResponse, prefix: str, write: bool, principal_id: str
    ) -> None:
        """Record a handout of static keys unless this principal got them for this key recently."""
        key = _Key(principal_id, str(bucket.id), _fingerprint(bucket), prefix, write)
        now = time.monotonic()
        until = self._static_recorded.get(key)
        if until is not None and until > now:
            return
        await self._record(bucket, prefix, write, principal_id, None)
        self._static_recorded[key] = now + STATIC_RECORD_SECONDS
        self._static_recorded.move_to_end(key)
        while len(self._static_recorded) > self._max_entries:
            self._static_recorded.popitem(last=False)

    def _remember(self, key: _Key, credentials: AnyCredentials) -> None:
        if credentials.expiration is None:
            return
        lifetime = credentials.expiration - utcnow()
        margin = min(MAX_REUSE_MARGIN, lifetime / 2)
        self._cache[key] = _Cached(credentials, time.monotonic() + (lifetime - margin).total_seconds())
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)

    def _assume_role_request(
        self, bucket: BucketResponse, prefix: str, *, write: bool, principal_id: str
    ) -> AssumeRoleRequest:
        auth = bucket.auth_config
        policy = session_policy(bucket.name, prefix, write=write)
        region = str(bucket.extra_config["region_name"]) if "region_name" in bucket.extra_config else None
        session = f"arraylake-{principal_id}"
        if isinstance(auth, StsAssumeRoleAuth):
            endpoint = auth.sts_endpoint_url or bucket.extra_config.get("endpoint_url")
            return AssumeRoleRequest(
                bucket_nickname=bucket.nickname,
                role_arn=auth.role_arn,
                session_name=session,
                policy=policy,
                endpoint_url=str(endpoint) if endpoint else None,
                region=region,
                access_key_id=auth.access_key_id,
                secret_access_key=auth.secret_access_key.get_secret_value(),
                external_id=auth.external_id.get_secret_value() if auth.external_id else None,
                duration_seconds=auth.duration_seconds,
            )
        assert isinstance(auth, AWSCustomerManagedRoleAuth)
        external_id = auth.shared_secret.get_secret_value() if auth.shared_secret else None
        return AssumeRoleRequest(
            bucket_nickname=bucket.nickname,
            role_arn=f"arn:aws:iam::{auth.external_customer_id}:role/{auth.external_role_name}",
            session_name=session,
            policy=policy,
            endpoint_url=self.settings.aws_sts_endpoint_url,
            region=region,
            external_id=_required_binding(bucket, external_id),
            duration_seconds=3600,
        )

    async def _gcs(self, target: str, bucket: str, prefix: str, write: bool, label: str) -> GSCredentials:
        token = self.settings.gcp_service_token
        async with httpx.AsyncClient(timeout=15) as http:
            delegation = GcsDelegation(http, token.get_secret_value() if token else None)
            return await delegation.credentials(
                target=target, bucket=bucket, prefix=prefix, write=write, label=label
            )

    async def _azure(
        self, tenant: str, account: str, container: str, write: bool, metadata: str
    ) -> AzureCredentials:
        settings = self.settings
        if not (settings.azure_client_id and settings.azure_client_secret):
            raise InvalidInput(
                "azure_credential_delegation needs the service's ARRAYLAKE_SERVER_AZURE_CLIENT_ID and _SECRET"
            )
        async with httpx.AsyncClient(timeout=15) as http:
            delegation = AzureDelegation(
                http, settings.azure_client_id, settings.azure_client_secret.get_secret_value()
            )
            return await delegation.credentials(
                tenant_id=tenant, account=account, container=container, write=write, metadata=metadata
            )


def _lifetime_seconds(credentials: AnyCredentials) -> int | None:
    if credentials.expiration is None:
        return None
    return max(0, round((credentials.expiration - utcnow()).total_seconds()))


def _required_binding(bucket: BucketResponse, value: str | None) -> str:
    """The org binding the service wrote into a delegated bucket config (binding.py). Configs saved before
    bindings existed have none, or a customer's own external id: refused until re-saved."""
    binding = (value or "").rsplit("-", 1)[-1].rsplit("_", 1)[-1]
    if not BINDING_PATTERN.match(binding):
        raise BindingMissing(
            f"bucket config {bucket.nickname!r} is not bound to its org yet: save it again (modify it with "
            "its current settings) so that the service binds it, then set up the binding shown by "
            "`arraylake bucket binding ORG`"
        )
    return value or ""
