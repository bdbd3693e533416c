"""Repo rows as the other repo modules read them: one repo with its bucket, cached, and as wire models."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.names import validate_repo_name
from arraylake.server.buckets.service import BucketCodec, default_bucket_id
from arraylake.server.catalog_cache import CatalogCache
from arraylake.server.db.schema import (
    LIFECYCLE_ACTIVE,
    LIFECYCLE_DELETING,
    LIFECYCLE_GHOST,
    buckets,
    orgs,
    repos,
)
from arraylake.server.errors import InvalidInput
from arraylake.server.identity.principals import OrgScope
from arraylake.server.policy import repo_not_found
from arraylake.types import (
    BucketResponse,
    Repo,
    RepoKind,
    RepoOperationMode,
    RepoOperationStatusResponse,
    RepoVisibility,
)
from arraylake.types.maintenance import OptimizationConfig

NO_POLICY = OptimizationConfig()
"""The policy of every repo that sets none, shared: most repos' records skip building one (never mutated)."""

BUCKET_COLUMNS = [c.label(f"b__{c.name}") for c in buckets.c]
"""The bucket's columns, ``b__``-prefixed, to read with a repo row (see :func:`record_of`)."""


class RepoReader:
    """Turns repo rows into wire models, fetching each bucket config once."""

    def __init__(self, conn: AsyncConnection | None, codec: BucketCodec, org: OrgScope):
        self.conn = conn  # None: only seeded buckets are known
        self.codec = codec
        self.org = org
        self._buckets: dict[str, BucketResponse] = {}
        self._default_id: str | bool | None = False
        self.deleter_emails: dict[str, str] = {}  # principal id -> email, for soft-deleted repos

    def seed(self, bucket: Row | None, default_id: str | None) -> None:
        """Use a bucket row fetched with the repo (one query instead of three on the hot path)."""
        self._default_id = default_id
        if bucket is not None and bucket.id not in self._buckets:
            self._buckets[bucket.id] = self.codec.to_wire(
                bucket, default_bucket_id=default_id, org_name=self.org.org_name
            )

    async def bucket(self, bucket_id: str | None) -> BucketResponse | None:
        if bucket_id is None:
            return None
        if bucket_id not in self._buckets:
            await self.prefetch_buckets({bucket_id})
        return self._buckets.get(bucket_id)

    async def prefetch_buckets(self, ids: set[str]) -> None:
        missing = {i for i in ids if i and i not in self._buckets}
        if not missing:
            return
        assert self.conn is not None, "a reader without a connection knows only its seeded buckets"
        if self._default_id is False:
            self._default_id = await default_bucket_id(self.conn, self.org.org_id)
        default_id = self._default_id if isinstance(self._default_id, str) else None
        rows = (await self.conn.execute(select(buckets).where(buckets.c.id.in_(missing)))).all()
        for row in rows:
            self._buckets[row.id] = self.codec.to_wire(
                row, default_bucket_id=default_id, org_name=self.org.org_name
            )

    async def to_wire(self, row: Row) -> Repo:
        """The wire model of one repo row."""
        deleted = row.lifecycle in (LIFECYCLE_GHOST, LIFECYCLE_DELETING)
        ghost = row.lifecycle == LIFECYCLE_GHOST
        return Repo(
            _id=row.id,
            org=self.org.org_name,
            name=row.name,
            created=row.created,
            updated=row.updated,
            description=row.description,
            metadata=row.metadata,
            created_by=row.created_by,
            visibility=RepoVisibility(row.visibility),
            bucket=await self.bucket(row.bucket_id),
            status=status_of(row),
            kind=RepoKind(row.kind),
            prefix=row.prefix,
            deleted_at=row.deleted_at if deleted else None,
            deleted_by=row.deleted_by if deleted else None,
            deleted_by_email=self.deleter_emails.get(row.deleted_by) if ghost else None,
            restorable_until=row.cleanup_due_at if ghost else None,
            retain_data=row.retain_data,
            optimization_config=(
                OptimizationConfig.model_validate(row.optimization_config)
                if row.optimization_config
                else NO_POLICY
            ),
            size_bytes=row.size_bytes,
        )

    async def many(self, rows: list[Row]) -> list[Repo]:
        """The wire models of ``rows``, their buckets fetched in one query."""
        await self.prefetch_buckets({r.bucket_id for r in rows if r.bucket_id})
        return [await self.to_wire(r) for r in rows]


def status_of(row: Row) -> RepoOperationStatusResponse:
    """A repo row's operation status, as the wire has it."""
    return RepoOperationStatusResponse(
        mode=RepoOperationMode(row.status_mode),
        message=row.status_message,
        initiated_by=row.status_initiated_by or {},
        estimated_end_time=row.status_estimated_end_time,
    )


@dataclass(frozen=True)
class RepoRecord:
    """A repo row together with its bucket row and the org's default bucket id, read in one query."""

    repo: Row
    bucket: Any
    default_bucket_id: str | None


async def repo_record(
    conn: AsyncConnection, org: OrgScope, name: str, lifecycles: tuple[str, ...] = (LIFECYCLE_ACTIVE,)
) -> RepoRecord:
    """The repo, its bucket and the org's default bucket id, with one indexed query; 404 if absent."""
    validate_repo_name(name)
    row = (
        await conn.execute(
            select(repos, *BUCKET_COLUMNS, orgs.c.default_bucket_id.label("org_default_bucket_id"))
            .join(orgs, orgs.c.id == repos.c.org_id)
            .outerjoin(buckets, buckets.c.id == repos.c.bucket_id)
            .where(repos.c.org_id == org.org_id, repos.c.live_name == name, repos.c.lifecycle.in_(lifecycles))
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        raise repo_not_found(org.org_name, name)
    return record_of(row)


async def cached_repo_record(
    cache: CatalogCache, reader: AsyncEngine, org: OrgScope, name: str
) -> RepoRecord:
    """The active repo ``name`` of ``org`` (404 if absent), from ``cache`` while fresh."""

    async def load() -> RepoRecord:
        async with reader.connect() as conn:
            return await repo_record(conn, org, name)

    return await cache.get(("repo", org.org_id, name), load)


def record_of(row: Row) -> RepoRecord:
    """A record from a row of repo columns, :data:`BUCKET_COLUMNS` and the org's default bucket id."""
    fields = row._mapping
    bucket = None
    if fields["b__id"] is not None:
        bucket = SimpleNamespace(
            **{key[3:]: fields[key] for key in fields if isinstance(key, str) and key.startswith("b__")}
        )
    return RepoRecord(row, bucket, fields["org_default_bucket_id"])


async def repo_row(
    conn: AsyncConnection, org: OrgScope, name: str, lifecycles: tuple[str, ...] = (LIFECYCLE_ACTIVE,)
) -> Row:
    """The repo's row alone; 404 if absent."""
    validate_repo_name(name)
    row = (
        await conn.execute(
            select(repos)
            .where(repos.c.org_id == org.org_id, repos.c.live_name == name, repos.c.lifecycle.in_(lifecycles))
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        raise repo_not_found(org.org_name, name)
    return row


async def record_to_wire(codec: BucketCodec, org: OrgScope, record: RepoRecord) -> Repo:
    """The wire model of a repo record (which holds everything it needs: no query)."""
    reader = RepoReader(None, codec, org)
    reader.seed(record.bucket, record.default_bucket_id)
    return await reader.to_wire(record.repo)


async def get_repo(conn: AsyncConnection, codec: BucketCodec, org: OrgScope, name: str) -> Repo:
    """The active repo ``name`` as the wire has it; 404 if absent."""
    return await record_to_wire(codec, org, await repo_record(conn, org, name))


def record_bucket(codec: BucketCodec, org: OrgScope, record: RepoRecord) -> BucketResponse:
    """A record's bucket with every secret open, for the service's own use (credentials, storage work)."""
    if record.bucket is None:
        raise InvalidInput(f"repo {org.org_name}/{record.repo.name} has no storage bucket")
    return codec.to_wire(record.bucket, default_bucket_id=None, org_name=org.org_name, internal=True)
