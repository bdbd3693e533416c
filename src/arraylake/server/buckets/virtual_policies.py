"""The org's virtual-chunk access policies: which bucket configs (and sub-prefixes) its repos may read
virtual chunks from.

A repo's virtual chunk containers are declared in its Icechunk config, which any writer can change. So the
service hands a reader credentials for a container only when an org admin authorized that bucket (and
sub-prefix) here: a repo cannot point a reader's credentials at a bucket the org keeps private. HMAC
buckets cannot be narrowed to a prefix, so they may only be authorized as public. Handing out the
credentials is ``credentials.virtual``'s job.
"""

from __future__ import annotations

import math
import uuid
from types import SimpleNamespace
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.buckets.service import BucketCodec, bucket_row
from arraylake.server.db.schema import buckets, virtual_chunk_policies
from arraylake.server.errors import InvalidInput, NotFound
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.storage import container_url_prefix
from arraylake.types import (
    AuthMethod,
    BucketResponse,
    PaginatedVirtualChunkPolicies,
    VirtualChunkPolicy,
    VirtualChunkPolicyRequest,
    utcnow,
)

_BUCKET_COLUMNS = [c.label(f"b__{c.name}") for c in buckets.c]


def policy_url(bucket: BucketResponse, subprefix: str) -> str:
    """The URL prefix of the virtual chunks a policy on ``bucket`` (and ``subprefix``) lets repos read."""
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


async def policy_rows(conn: AsyncConnection, org: OrgScope) -> list[tuple[Row, Any]]:
    """The org's policies, oldest first, each with its bucket row (one query)."""
    rows = (
        await conn.execute(
            select(virtual_chunk_policies, *_BUCKET_COLUMNS)
            .join(buckets, buckets.c.id == virtual_chunk_policies.c.bucket_id)
            .where(virtual_chunk_policies.c.org_id == org.org_id)
            .order_by(virtual_chunk_policies.c.created)
        )
    ).all()
    return [(row, _bucket_of(row)) for row in rows]


def _bucket_of(row: Row) -> SimpleNamespace:
    fields = row._mapping
    return SimpleNamespace(
        **{key[3:]: fields[key] for key in fields if isinstance(key, str) and key.startswith("b__")}
    )


async def list_policies(
    conn: AsyncConnection, codec: BucketCodec, org: OrgScope, *, page: int, size: int
) -> PaginatedVirtualChunkPolicies:
    """A page of the org's policies, oldest first."""
    pairs = await policy_rows(conn, org)
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
    """Authorize a bucket config (or a sub-prefix of it), or change whether it is public."""
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
    policy = _wire(stored, bucket)
    await record(
        conn,
        "virtual_chunk_policy.create",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=_target(bucket.nickname, request.subprefix),
        details={
            "url_prefix": policy.url_prefix,
            "bucket": bucket.nickname,
            "bucket_id": str(row.id),
            "subprefix": request.subprefix,
            "public": request.public,
            "replaced": existing is not None,
        },
    )
    return policy


def _target(nickname: str | None, subprefix: str) -> str | None:
    """What an audit entry names: the bucket config's nickname and the sub-prefix."""
    if nickname is None:
        return None
    return (f"{nickname}/{subprefix.strip('/')}" if subprefix.strip("/") else nickname)[:512]


async def delete_policy(
    conn: AsyncConnection, org: OrgScope, principal: Principal, request: VirtualChunkPolicyRequest
) -> None:
    """Withdraw an authorization; 404 if there is none."""
    nickname = (
        await conn.execute(
            select(buckets.c.nickname).where(
                buckets.c.org_id == org.org_id, buckets.c.id == str(request.bucket_id)
            )
        )
    ).scalar_one_or_none()
    result = await conn.execute(
        delete(virtual_chunk_policies).where(
            virtual_chunk_policies.c.org_id == org.org_id,
            virtual_chunk_policies.c.bucket_id == str(request.bucket_id),
            virtual_chunk_policies.c.subprefix == request.subprefix,
        )
    )
    if result.rowcount == 0:
        raise NotFound("no such virtual chunk access policy")
    await record(
        conn,
        "virtual_chunk_policy.delete",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        target=_target(nickname, request.subprefix),
        details={"bucket": nickname, "bucket_id": str(request.bucket_id), "subprefix": request.subprefix},
    )
