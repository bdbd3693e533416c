"""The credential vendor: the one place that turns (principal, bucket, prefix, access) into credentials.

* ``anonymous`` and ``local`` buckets need none;
* ``hmac`` buckets hand out their static keys (to principals allowed to read there);
* ``sts_assume_role`` and ``aws_customer_managed_role`` buckets get an STS session per
  (principal, bucket, prefix, access), limited by a session policy to that prefix.

STS answers are cached per process and shared by concurrent requests: however many workers of a Dask
cluster ask at once, one STS call is made per key and lifetime. A cached answer is handed out while more
than half its lifetime (at most 10 minutes) remains, so clients always get time to use it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from arraylake.server.credentials.s3_sts import AssumeRoleRequest, assume_role, session_policy
from arraylake.server.errors import InvalidInput
from arraylake.server.logs import get_logger
from arraylake.server.settings import ServerSettings
from arraylake.storage import credentials_from_bucket
from arraylake.types import (
    AnyCredentials,
    AWSCustomerManagedRoleAuth,
    BucketResponse,
    Platform,
    S3Credentials,
    StsAssumeRoleAuth,
    utcnow,
)

MAX_REUSE_MARGIN = timedelta(minutes=10)
log = get_logger("arraylake.server.credentials")
SERVICE_PRINCIPAL = "arraylake-service"


@dataclass(frozen=True)
class _Key:
    principal_id: str
    bucket_id: str
    auth_fingerprint: str
    prefix: str
    write: bool


@dataclass
class _Cached:
    credentials: S3Credentials
    reuse_until: float


def _fingerprint(bucket: BucketResponse) -> str:
    data = bucket.auth_config.model_dump(mode="json") if bucket.auth_config else {}
    data["_endpoint"] = bucket.extra_config.get("endpoint_url")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class CredentialVendor:
    def __init__(self, settings: ServerSettings, max_entries: int = 10_000):
        self.settings = settings
        self._max_entries = max_entries
        self._cache: OrderedDict[_Key, _Cached] = OrderedDict()
        self._inflight: dict[_Key, asyncio.Future[S3Credentials]] = {}
        self.sts_calls = 0

    async def credentials(
        self, bucket: BucketResponse, prefix: str, *, write: bool, principal_id: str
    ) -> AnyCredentials | None:
        """Credentials for ``prefix`` of ``bucket``, read-only unless ``write``; ``None`` if not needed."""
        auth = bucket.auth_config
        if bucket.platform == Platform.LOCAL or auth is None:
            return None
        if isinstance(auth, StsAssumeRoleAuth | AWSCustomerManagedRoleAuth):
            return await self._sts(bucket, prefix, write=write, principal_id=principal_id)
        if auth.method in ("anonymous", "hmac"):
            return credentials_from_bucket(bucket)
        raise InvalidInput(
            f"bucket config {bucket.nickname!r}: auth method {auth.method} cannot vend credentials"
        )

    async def for_service(self, bucket: BucketResponse, prefix: str) -> AnyCredentials | None:
        """Read-write credentials for the service's own work on a repo (checks, deletion)."""
        return await self.credentials(bucket, prefix, write=True, principal_id=SERVICE_PRINCIPAL)

    async def _sts(
        self, bucket: BucketResponse, prefix: str, *, write: bool, principal_id: str
    ) -> S3Credentials:
        key = _Key(principal_id, str(bucket.id), _fingerprint(bucket), prefix, write)
        cached = self._cache.get(key)
        if cached is not None and cached.reuse_until > time.monotonic():
            self._cache.move_to_end(key)
            return cached.credentials
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[S3Credentials] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            credentials = await assume_role(
                self._request(bucket, prefix, write=write, principal_id=principal_id)
            )
            self.sts_calls += 1
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

    def _remember(self, key: _Key, credentials: S3Credentials) -> None:
        assert credentials.expiration is not None
        lifetime = credentials.expiration - utcnow()
        margin = min(MAX_REUSE_MARGIN, lifetime / 2)
        self._cache[key] = _Cached(credentials, time.monotonic() + (lifetime - margin).total_seconds())
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)

    def _request(
        self, bucket: BucketResponse, prefix: str, *, write: bool, principal_id: str
    ) -> AssumeRoleRequest:
        auth = bucket.auth_config
        policy = session_policy(bucket.name, prefix, write=write)
        region = bucket.extra_config.get("region_name")
        session = f"arraylake-{principal_id}"
        if isinstance(auth, StsAssumeRoleAuth):
            return AssumeRoleRequest(
                bucket_nickname=bucket.nickname,
                role_arn=auth.role_arn,
                session_name=session,
                policy=policy,
                endpoint_url=auth.sts_endpoint_url or bucket.extra_config.get("endpoint_url"),  # type: ignore[arg-type]
                region=region,  # type: ignore[arg-type]
                access_key_id=auth.access_key_id,
                secret_access_key=auth.secret_access_key.get_secret_value(),
                external_id=auth.external_id,
                duration_seconds=auth.duration_seconds,
            )
        assert isinstance(auth, AWSCustomerManagedRoleAuth)
        return AssumeRoleRequest(
            bucket_nickname=bucket.nickname,
            role_arn=f"arn:aws:iam::{auth.external_customer_id}:role/{auth.external_role_name}",
            session_name=session,
            policy=policy,
            endpoint_url=self.settings.aws_sts_endpoint_url,
            region=region,  # type: ignore[arg-type]
            external_id=auth.shared_secret.get_secret_value() if auth.shared_secret else None,
            duration_seconds=3600,
        )
