"""The org's virtual-chunk access policy, and the credentials it lets ``/open`` hand out.

A repo's virtual chunk containers are declared in its Icechunk config, which any writer can change. So the
service hands a reader credentials for a container only when an org admin authorized that bucket (and
sub-prefix) for virtual chunks: a repo cannot point a reader's credentials at a bucket the org keeps
private. HMAC buckets cannot be narrowed to a prefix, so they may only be authorized as public.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

import icechunk
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.names import join_prefix
from arraylake.server.buckets.service import BucketCodec, bucket_row
from arraylake.server.catalog_cache import CatalogCache
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.db.schema import buckets, virtual_chunk_policies
from arraylake.server.errors import InvalidInput, NotFound
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.storage import container_url_prefix, force_path_style, icechunk_storage, use_ssl
from arraylake.types import (
    AuthMethod,
    BucketResponse,
    PaginatedVirtualChunkPolicies,
    VirtualChunkCredentials,
    VirtualChunkPolicy,
    VirtualChunkPolicyRequest,
    utcnow,
)

CONTAINERS_CACHE_SECONDS = 60.0


def policy_url(bucket: BucketResponse, subprefix: str) -> str:
    base = container_url_prefix(bucket)
    return base + (subprefix.strip("/") + "/" if subprefix else "")


def _wire(row: Row, bucket: BucketResponse) -> VirtualChunkPolicy:
    return VirtualChunkPolicy(
        bucket_id=row.bucket_id,
        subprefix=row.subprefix,
        public=row.public,
        url_prefix=policy_url(bucket, row.subprefix),
        created=row.created,
        created_by=row.created_by,
    )


async def _rows(conn: AsyncConnection, org: OrgScope) -> list[tuple[Row, Row]]:
    result = await conn.execute(
        select(virtual_chunk_policies, buckets.c.id.label("b_id"))
        .join(buckets, buckets.c.id == virtual_chunk_policies.c.bucket_id)
        .where(virtual_chunk_policies.c.org_id == org.org_id)
        .order_by(virtual_chunk_policies.c.created)
    )
    rows = result.all()
    if not rows:
        return []
    bucket_rows = {
        r.id: r
        for r in (
            await conn.execute(select(buckets).where(buckets.c.id.in_([x.bucket_id for x in rows])))
        ).all()
    }
    return [(r, bucket_rows[r.bucket_id]) for r in rows]


async def list_policies(
    conn: AsyncConnection, codec: BucketCodec, org: OrgScope, *, page: int, size: int
) -> PaginatedVirtualChunkPolicies:
    pairs = await _rows(conn, org)
    items = [_wire(r, codec.to_wire(b, default_bucket_id=None, org_name=org.org_name)) for r, b in pairs]
    start = (page - 1) * size
    return PaginatedVirtualChunkPolicies(
        items=items[start : start + size],
        total=len(items),
        page=page,
        size=size,
        pages=max(1, math.ceil(len(items) / size)),
    )


async def put_policy(
    conn: AsyncConnection,
    codec: BucketCodec,
    org: OrgScope,
    principal: Principal,
    request: VirtualChunkPolicyRequest,
) -> VirtualChunkPolicy:
    row = await bucket_row(conn, org, str(request.bucket_id))
    bucket = codec.to_wire(row, default_bucket_id=None, org_name=org.org_name)
    if bucket.auth_method == AuthMethod.HMAC and not request.public:
        raise InvalidInput(
            f"bucket config {bucket.nickname!r} uses HMAC keys, which cannot be limited to a prefix: "
            "authorize it as public, or use a bucket config with a role-based auth method"
        )
    where = (
        virtual_chunk_policies.c.bucket_id == row.id,
        virtual_chunk_policies.c.subprefix == request.subprefix,
    )
    existing = (await conn.execute(select(virtual_chunk_policies.c.id).where(*where))).scalar_one_or_none()
    if existing is None:
        await conn.execute(
            insert(virtual_chunk_policies).values(
                id=str(uuid.uuid4()),
                org_id=org.org_id,
                bucket_id=row.id,
                subprefix=request.subprefix,
                public=request.public,
                created=utcnow(),
                created_by=principal.id,
            )
        )
    else:
        await conn.execute(update(virtual_chunk_policies).where(*where).values(public=request.public))
    stored = (await conn.execute(select(virtual_chunk_policies).where(*where))).one()
    return _wire(stored, bucket)


async def delete_policy(conn: AsyncConnection, org: OrgScope, request: VirtualChunkPolicyRequest) -> None:
    result = await conn.execute(
        delete(virtual_chunk_policies).where(
            virtual_chunk_policies.c.org_id == org.org_id,
            virtual_chunk_policies.c.bucket_id == str(request.bucket_id),
            virtual_chunk_policies.c.subprefix == request.subprefix,
        )
    )
    if result.rowcount == 0:
        raise NotFound("no such virtual chunk access policy")


@dataclass
class _Containers:
    url_prefixes: list[str]
    fetched: float


class ContainerCredentials:
    """Virtual chunk credentials of repos, as the org's policy allows (repo configs cached briefly)."""

    def __init__(
        self, codec: BucketCodec, vendor: CredentialVendor, reader: AsyncEngine, cache: CatalogCache
    ):
        self.codec = codec
        self.vendor = vendor
        self.reader = reader
        self.cache = cache
        self._containers: dict[str, _Containers] = {}

    async def _containers_of(self, repo_id: str, repo_bucket: BucketResponse, prefix: str) -> list[str]:
        cached = self._containers.get(repo_id)
        if cached is not None and time.monotonic() - cached.fetched < CONTAINERS_CACHE_SECONDS:
            return cached.url_prefixes
        credentials = await self.vendor.for_service(repo_bucket, prefix)
        storage = icechunk_storage(repo_bucket, prefix, credentials, scatter_initial_credentials=False)
        try:
            config = await icechunk.Repository.fetch_config_async(storage)
        except icechunk.IcechunkError:
            config = None
        prefixes = sorted((config.virtual_chunk_containers or {}) if config is not None else {})
        self._containers[repo_id] = _Containers(prefixes, time.monotonic())
        return prefixes

    async def _policies(self, org: OrgScope) -> list[tuple[Row, Row]]:
        async def load() -> list[tuple[Row, Row]]:
            async with self.reader.connect() as conn:
                return await _rows(conn, org)

        return await self.cache.get(("virtual chunk policies", org.org_id), load)

    async def for_repo(
        self,
        org: OrgScope,
        principal: Principal,
        repo_id: str,
        repo_bucket: BucketResponse,
        prefix: str,
    ) -> dict[str, VirtualChunkCredentials]:
        pairs = await self._policies(org)
        if not pairs:
            return {}
        policies = [
            (policy, self.codec.to_wire(b, default_bucket_id=None, org_name=org.org_name, internal=True))
            for policy, b in pairs
        ]
        found: dict[str, VirtualChunkCredentials] = {}
        for url_prefix in await self._containers_of(repo_id, repo_bucket, prefix):
            wanted = url_prefix if url_prefix.endswith("/") else url_prefix + "/"
            for policy, bucket in policies:
                if not wanted.startswith(policy_url(bucket, policy.subprefix)):
                    continue
                scope = join_prefix(bucket.prefix, policy.subprefix)
                credentials = None
                if not policy.public:
                    credentials = await self.vendor.credentials(
                        bucket, scope, write=False, principal_id=principal.id
                    )
                found[url_prefix] = VirtualChunkCredentials(
                    credentials=credentials,
                    org=org.org_name,
                    bucket_nickname=bucket.nickname,
                    platform=bucket.platform,
                    region=bucket.extra_config.get("region_name"),  # type: ignore[arg-type]
                    endpoint_url=bucket.extra_config.get("endpoint_url"),  # type: ignore[arg-type]
                    allow_http=not use_ssl(bucket),
                    force_path_style=force_path_style(bucket),
                )
                break
        return found
