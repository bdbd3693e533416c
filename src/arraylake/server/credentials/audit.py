"""Recording credential vends in the audit log: who received credentials for which bucket prefix, with what
access and lifetime. Never the credentials themselves.

A vend changes nothing in the catalog, so its entry is written in a transaction of its own, together with
the few indexed reads that name the recipient, the org and the repo of the prefix. Only vends that reach
the log cost these: the vendor skips answers it already recorded (its cache, its memo of static keys).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.server.audit.record import SERVICE_ACTOR, record
from arraylake.server.db.schema import buckets, orgs, principals, repos
from arraylake.types import BucketResponse

MAX_TARGET_LENGTH = 512


@dataclass(frozen=True)
class Vend:
    """Credentials handed to ``principal_id`` for ``prefix`` of ``bucket``."""

    bucket: BucketResponse
    prefix: str
    write: bool
    principal_id: str
    lifetime_seconds: int | None
    """``None`` for keys that do not expire (a bucket's static HMAC keys)."""


def vend_target(bucket: BucketResponse, prefix: str) -> str:
    """What an entry names as the target: the bucket config's nickname and the prefix."""
    target = f"{bucket.nickname}/{prefix.strip('/')}" if prefix.strip("/") else bucket.nickname
    return target[:MAX_TARGET_LENGTH]


async def record_vend(engine: AsyncEngine, vend: Vend, *, service_principal: str) -> None:
    """Append a ``credentials.vend`` entry (the service's own vends name :data:`SERVICE_ACTOR`)."""
    async with engine.begin() as conn:
        org = await _org_of_bucket(conn, str(vend.bucket.id))
        repo = await _repo_at(conn, str(vend.bucket.id), vend.prefix)
        actor_id: str = SERVICE_ACTOR
        actor: str | None = SERVICE_ACTOR
        if vend.principal_id != service_principal:
            actor_id = vend.principal_id
            actor = (
                await conn.execute(select(principals.c.email).where(principals.c.id == vend.principal_id))
            ).scalar_one_or_none()
        auth = vend.bucket.auth_config
        await record(
            conn,
            "credentials.vend",
            actor_id=actor_id,
            actor_name=actor,
            org_id=org[0] if org else None,
            org=org[1] if org else None,
            repo=repo,
            target=vend_target(vend.bucket, vend.prefix),
            details={
                "access": "write" if vend.write else "read",
                "lifetime_seconds": vend.lifetime_seconds,
                "method": auth.method if auth is not None else None,
                "bucket": vend.bucket.nickname,
            },
        )


async def _org_of_bucket(conn: AsyncConnection, bucket_id: str) -> tuple[str, str] | None:
    row = (
        await conn.execute(
            select(orgs.c.id, orgs.c.name)
            .join(buckets, buckets.c.org_id == orgs.c.id)
            .where(buckets.c.id == bucket_id)
        )
    ).one_or_none()
    return (row.id, row.name) if row is not None else None


async def _repo_at(conn: AsyncConnection, bucket_id: str, prefix: str) -> str | None:
    """The name of the repo whose prefix this is (none for a bucket-wide or container vend)."""
    return (
        await conn.execute(
            select(repos.c.name)
            .where(repos.c.bucket_id == bucket_id, repos.c.prefix == prefix)
            .order_by(repos.c.created.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
