"""Repos in the catalog: list, get, create (register or create mode), activate, open, status, delete.

Lifecycle (see ``db.schema``): a repo created in ``create`` mode stays hidden while ``creating`` and becomes
``active`` when its creator reports that the Icechunk repository exists; if that never happens, the service
removes it when its lease ends. Deleting either drops the row (``retain_data``), turns it into a restorable
``ghost``, or marks it ``deleting`` until its data has gone (see ``cleanup``).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import icechunk
from sqlalchemy import and_, delete, func, insert, literal, or_, select, tuple_, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.names import join_prefix, validate_repo_name
from arraylake.server import storage_ops
from arraylake.server.buckets.service import (
    BucketCodec,
    bucket_row,
    bucket_row_by_nickname,
    default_bucket_id,
)
from arraylake.server.catalog_cache import CatalogCache
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.credentials.virtual import ContainerCredentials
from arraylake.server.db.locks import lock_org
from arraylake.server.db.schema import (
    LIFECYCLE_ACTIVE,
    LIFECYCLE_CREATING,
    LIFECYCLE_DELETING,
    LIFECYCLE_GHOST,
    buckets,
    orgs,
    principals,
    repo_metadata,
    repos,
)
from arraylake.server.errors import Conflict, InvalidInput, NotFound, StorageRefused
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.server.policy import repo_not_found
from arraylake.server.repos.metadata_index import filter_clauses, write_index
from arraylake.server.repos.page_anchors import PageAnchors
from arraylake.storage import can_write, icechunk_storage
from arraylake.types import (
    AnyCredentials,
    Author,
    BucketResponse,
    CreateMode,
    OpenRepoResponse,
    PaginatedRepos,
    Repo,
    RepoCreateBody,
    RepoDeletionProgress,
    RepoKind,
    RepoMetadata,
    RepoModifyRequest,
    RepoOperationMode,
    RepoOperationStatusResponse,
    RepoOperationStatusUpdate,
    RepoVisibility,
    utcnow,
    validate_metadata,
)

MAX_REPO_PREFIX_LENGTH = 512


def new_repo_id() -> str:
    """24 hex digits, like a Mongo ObjectId: 4 bytes of time (so ids sort by creation) + 8 random bytes."""
    return (int(time.time()).to_bytes(4, "big") + os.urandom(8)).hex()


# ------------------------------------------------------------------------------------------------ reading


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
        )

    async def many(self, rows: list[Row]) -> list[Repo]:
        await self.prefetch_buckets({r.bucket_id for r in rows if r.bucket_id})
        return [await self.to_wire(r) for r in rows]


def status_of(row: Row) -> RepoOperationStatusResponse:
    return RepoOperationStatusResponse(
        mode=RepoOperationMode(row.status_mode),
        message=row.status_message,
        initiated_by=row.status_initiated_by or {},
        estimated_end_time=row.status_estimated_end_time,
    )


_BUCKET_COLUMNS = [c.label(f"b__{c.name}") for c in buckets.c]


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
            select(repos, *_BUCKET_COLUMNS, orgs.c.default_bucket_id.label("org_default_bucket_id"))
            .join(orgs, orgs.c.id == repos.c.org_id)
            .outerjoin(buckets, buckets.c.id == repos.c.bucket_id)
            .where(repos.c.org_id == org.org_id, repos.c.live_name == name, repos.c.lifecycle.in_(lifecycles))
            .limit(1)
        )
    ).one_or_none()
    if row is None:
        raise repo_not_found(org.org_name, name)
    return _record(row)


async def cached_repo_record(
    cache: CatalogCache, reader: AsyncEngine, org: OrgScope, name: str
) -> RepoRecord:
    """The active repo ``name`` of ``org`` (404 if absent), from ``cache`` while fresh."""

    async def load() -> RepoRecord:
        async with reader.connect() as conn:
            return await repo_record(conn, org, name)

    return await cache.get(("repo", org.org_id, name), load)


def _record(row: Row) -> RepoRecord:
    """A record from a row of repo columns, ``b__``-prefixed bucket columns and the org's default bucket."""
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


async def reservation_of(
    conn: AsyncConnection, principal: Principal, org: str, name: str
) -> tuple[OrgScope, Row, bool] | None:
    """A repo that this principal is creating (``create`` mode, not yet activated), with write access."""
    member = principal.memberships.get(org)
    if member is None:
        return None
    row = (
        await conn.execute(
            select(repos).where(
                repos.c.org_id == member.org_id,
                repos.c.live_name == name,
                repos.c.lifecycle == LIFECYCLE_CREATING,
                repos.c.created_by == principal.id,
            )
        )
    ).one_or_none()
    return (member, row, True) if row is not None else None


async def list_repos(
    conn: AsyncConnection,
    codec: BucketCodec,
    org: OrgScope,
    *,
    page: int,
    size: int,
    filters: RepoMetadata,
    include_ghosts: bool = False,
    only_names: set[str] | None = None,
    after: str | None = None,
    anchors: PageAnchors | None = None,
) -> PaginatedRepos:
    """A page of the org's repos by name; ``only_names`` limits it to the repos the caller may see.

    With ``after`` (a cursor: the last name of the previous page) the page starts after that name, found
    through the index at any depth; ``page`` is then ignored and answered as 0. Deep pages by number of the
    plain listing start from the org's ``anchors`` when they are current.
    """
    lifecycles = (LIFECYCLE_ACTIVE, LIFECYCLE_GHOST) if include_ghosts else (LIFECYCLE_ACTIVE,)
    where = [repos.c.org_id == org.org_id, repos.c.lifecycle.in_(lifecycles), *filter_clauses(filters)]
    if only_names is not None:
        where.append(repos.c.name.in_(sorted(only_names)))
    # The org's counter (kept by triggers) answers for the plain listing; filtered ones are counted.
    counted = not filters and only_names is None and not include_ghosts
    total_where = list(where)
    if after is not None:
        where.append(repos.c.name > after)
        page = 0
    offset = max(0, page - 1) * size
    anchored = None
    if counted and after is None and anchors is not None:
        anchored = await _anchored_page(conn, anchors, org, where, offset, size)
    if anchored is not None:
        rows, total = anchored
    else:
        rows = await _page_rows(conn, where, offset, size)
        if counted and rows:
            total = rows[0].org_active_repos
        elif counted:
            total = (await _org_list(conn, org)).active_repos
        else:
            total = (
                await conn.execute(select(func.count()).select_from(repos).where(*total_where))
            ).scalar_one()
    reader = RepoReader(None, codec, org)
    for row in rows:
        record = _record(row)
        reader.seed(record.bucket, record.default_bucket_id)
    deleters = {row.deleted_by for row in rows if row.lifecycle == LIFECYCLE_GHOST and row.deleted_by}
    if deleters:
        reader.deleter_emails = await _emails(conn, deleters)
    items = [await reader.to_wire(row) for row in rows]
    return PaginatedRepos(
        items=items, total=total, page=page, size=size, pages=max(1, math.ceil(total / size))
    )


async def _emails(conn: AsyncConnection, principal_ids: set[str]) -> dict[str, str]:
    found = await conn.execute(
        select(principals.c.id, principals.c.email).where(principals.c.id.in_(sorted(principal_ids)))
    )
    return {row.id: row.email for row in found}


async def _page_rows(conn: AsyncConnection, where: list[Any], offset: int, size: int) -> list[Row]:
    """The page's rows, with their buckets and the org's counter and list version (one statement)."""
    # The page's ids first (skipping through the covering index alone), then their rows and buckets.
    page_ids = (
        select(repos.c.id)
        .where(*where)
        .order_by(repos.c.name, repos.c.id)
        .limit(size)
        .offset(offset)
        .subquery()
    )
    return list(
        (
            await conn.execute(
                select(
                    repos,
                    *_BUCKET_COLUMNS,
                    orgs.c.default_bucket_id.label("org_default_bucket_id"),
                    orgs.c.active_repos.label("org_active_repos"),
                    orgs.c.repo_list_version.label("org_list_version"),
                )
                .join(page_ids, page_ids.c.id == repos.c.id)
                .join(orgs, orgs.c.id == repos.c.org_id)
                .outerjoin(buckets, buckets.c.id == repos.c.bucket_id)
                .order_by(repos.c.name, repos.c.id)
            )
        ).all()
    )


async def _org_list(conn: AsyncConnection, org: OrgScope) -> Row:
    return (
        await conn.execute(
            select(orgs.c.active_repos, orgs.c.repo_list_version).where(orgs.c.id == org.org_id)
        )
    ).one()


async def _anchored_page(
    conn: AsyncConnection, anchors: PageAnchors, org: OrgScope, where: list[Any], offset: int, size: int
) -> tuple[list[Row], int] | None:
    """The page at ``offset`` and the total, read from the org's anchors if they are current; None: the
    caller pages by OFFSET."""
    for _ in range(2):  # stale anchors are dropped, and may be rebuilt once
        seek = await anchors.seek(conn, org.org_id, offset)
        if seek is None:
            return None
        start = tuple_(repos.c.name, repos.c.id) >= tuple_(literal(seek.name), literal(seek.id))
        rows = await _page_rows(conn, [*where, start], seek.skip, size)
        if rows:
            version, total = rows[0].org_list_version, rows[0].org_active_repos
        else:
            # Read after the page: versions only grow, so the same version here means the page saw it too.
            listed = await _org_list(conn, org)
            version, total = listed.repo_list_version, listed.active_repos
        if version == seek.version:
            return rows, total
        anchors.discard(org.org_id, seek.version)
    return None


async def list_all_repos(
    conn: AsyncConnection, codec: BucketCodec, org: OrgScope, *, only_names: set[str] | None = None
) -> list[Repo]:
    query = select(repos).where(repos.c.org_id == org.org_id, repos.c.lifecycle == LIFECYCLE_ACTIVE)
    if only_names is not None:
        query = query.where(repos.c.name.in_(sorted(only_names)))
    rows = (await conn.execute(query.order_by(repos.c.name))).all()
    return await RepoReader(conn, codec, org).many(list(rows))


async def repos_in_bucket(
    conn: AsyncConnection,
    codec: BucketCodec,
    org: OrgScope,
    bucket_id: str,
    *,
    only_names: set[str] | None = None,
) -> list[Repo]:
    await bucket_row(conn, org, bucket_id)
    query = select(repos).where(
        repos.c.org_id == org.org_id, repos.c.bucket_id == bucket_id, repos.c.lifecycle == LIFECYCLE_ACTIVE
    )
    if only_names is not None:
        query = query.where(repos.c.name.in_(sorted(only_names)))
    rows = (await conn.execute(query.order_by(repos.c.name))).all()
    return await RepoReader(conn, codec, org).many(list(rows))


async def record_to_wire(codec: BucketCodec, org: OrgScope, record: RepoRecord) -> Repo:
    """The wire model of a repo record (which holds everything it needs: no query)."""
    reader = RepoReader(None, codec, org)
    reader.seed(record.bucket, record.default_bucket_id)
    return await reader.to_wire(record.repo)


async def get_repo(conn: AsyncConnection, codec: BucketCodec, org: OrgScope, name: str) -> Repo:
    return await record_to_wire(codec, org, await repo_record(conn, org, name))


def record_bucket(codec: BucketCodec, org: OrgScope, record: RepoRecord) -> BucketResponse:
    """A record's bucket with every secret open, for the service's own use (credentials, storage work)."""
    if record.bucket is None:
        raise InvalidInput(f"repo {org.org_name}/{record.repo.name} has no storage bucket")
    return codec.to_wire(record.bucket, default_bucket_id=None, org_name=org.org_name, internal=True)


async def internal_bucket(
    conn: AsyncConnection, codec: BucketCodec, org: OrgScope, row: Row
) -> BucketResponse:
    """A repo's bucket with every secret open, for the service's own use (credentials, storage work)."""
    found = None
    if row.bucket_id is not None:
        found = (await conn.execute(select(buckets).where(buckets.c.id == row.bucket_id))).one_or_none()
    if found is None:
        raise InvalidInput(f"repo {org.org_name}/{row.name} has no storage bucket")
    return codec.to_wire(found, default_bucket_id=None, org_name=org.org_name, internal=True)


async def open_info(
    codec: BucketCodec,
    vendor: CredentialVendor,
    org: OrgScope,
    principal: Principal,
    record: RepoRecord,
    *,
    write: bool,
    may_write: bool | None = None,
    containers: ContainerCredentials | None = None,
) -> OpenRepoResponse:
    """Everything needed to open the repo: bucket, prefix, credentials for this principal (read-only unless
    ``write``), author, status."""
    row = record.repo
    source = record_bucket(codec, org, record)
    bucket = codec.to_wire(record.bucket, default_bucket_id=record.default_bucket_id, org_name=org.org_name)
    credentials = await vendor.credentials(
        source, row.prefix, write=write, principal_id=principal.id, may_write=may_write
    )
    virtual = {}
    if containers is not None:
        virtual = await containers.for_repo(org, principal, row.id, source, row.prefix)
    return OpenRepoResponse(
        repo_bucket=bucket,
        repo_prefix=row.prefix,
        repo_credentials=credentials,
        virtual_chunk_credentials=virtual,
        author=Author(name=principal.author_name, email=principal.email),
        principal_id=principal.id,
        status=status_of(row),
    )


# ----------------------------------------------------------------------------------------------- creating


def _ancestors(prefix: str) -> list[str]:
    parts = prefix.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _check_prefix_free(
    conn: AsyncConnection, org: OrgScope, bucket: BucketResponse, prefix: str
) -> None:
    """409 when another repo of the org uses this prefix, a prefix inside it, or one that contains it."""
    same_location = select(buckets.c.id).where(
        buckets.c.org_id == org.org_id,
        buckets.c.platform == bucket.platform.value,
        buckets.c.name == bucket.name,
    )
    clash = (
        await conn.execute(
            select(repos.c.name, repos.c.prefix)
            .where(
                repos.c.org_id == org.org_id,
                repos.c.bucket_id.in_(same_location),
                or_(
                    repos.c.prefix.in_(_ancestors(prefix)),
                    repos.c.prefix.like(_like_escape(prefix) + "/%", escape="\\"),
                ),
            )
            .limit(1)
        )
    ).one_or_none()
    if clash is not None:
        raise Conflict(
            f"prefix {prefix!r} overlaps the prefix {clash.prefix!r} of repo {org.org_name}/{clash.name} "
            f"in bucket {bucket.name!r}"
        )


async def _check_name_free(conn: AsyncConnection, org: OrgScope, name: str, now: datetime) -> None:
    """409 unless the name is free; a reservation whose creator vanished is released here and now."""
    holder = (
        await conn.execute(
            select(repos.c.id, repos.c.lifecycle, repos.c.lease_expires_at, repos.c.cleanup_due_at).where(
                repos.c.org_id == org.org_id, repos.c.live_name == name
            )
        )
    ).one_or_none()
    if holder is None:
        return
    full = f"{org.org_name}/{name}"
    if holder.lifecycle == LIFECYCLE_CREATING:
        if holder.lease_expires_at > now:
            raise Conflict(
                f"repo {full} is being created by another request; "
                f"try again after {holder.lease_expires_at:%H:%M:%S} UTC"
            )
        # The creator never finished: release the name; the janitor removes whatever it wrote.
        await conn.execute(
            update(repos)
            .where(repos.c.id == holder.id)
            .values(lifecycle=LIFECYCLE_DELETING, live_name=None, cleanup_due_at=now, cleanup_started_at=None)
        )
        return
    if holder.lifecycle == LIFECYCLE_GHOST:
        raise Conflict(
            f"repo {full} was deleted and can be restored until {holder.cleanup_due_at:%Y-%m-%d %H:%M} UTC; "
            f"restore it (`arraylake repo restore {full}`, Client.restore_repo), or delete it for good "
            "(delete with immediate=true) to reuse the name"
        )
    raise Conflict(f"repo {full} already exists")


async def _target_bucket(
    conn: AsyncConnection, codec: BucketCodec, org: OrgScope, nickname: str | None
) -> BucketResponse:
    """The bucket a new repo goes to (named, or the org's default), secrets open for the service."""
    if nickname is not None:
        row = await bucket_row_by_nickname(conn, org, nickname)
    else:
        default_id = await default_bucket_id(conn, org.org_id)
        if default_id is None:
            raise InvalidInput(
                f"org {org.org_name} has no default bucket config: name one (command line: "
                "`arraylake repo create ORG/REPO --bucket NICKNAME`; Python: "
                "`create_repo(..., bucket_config_nickname=NICKNAME)`), or set a default "
                f"(`arraylake bucket set-default {org.org_name} NICKNAME`; "
                "`set_default_bucket_config(org=..., nickname=...)`)"
            )
        row = await bucket_row(conn, org, default_id)
    default_id = row.id if nickname is None else None
    return codec.to_wire(row, default_bucket_id=default_id, org_name=org.org_name, internal=True)


async def create_repo(
    conn: AsyncConnection,
    codec: BucketCodec,
    vendor: CredentialVendor,
    org: OrgScope,
    principal: Principal,
    body: RepoCreateBody,
) -> tuple[Repo, Row]:
    """Record a new repo. In ``create`` mode it stays hidden until :func:`activate_repo`; in ``import`` mode
    the Icechunk repository must already exist at the prefix."""
    if body.kind != RepoKind.Icechunk:
        raise InvalidInput(
            "only icechunk repos can be created; legacy V1 repos are not supported by this service"
        )
    bucket = await _target_bucket(conn, codec, org, body.bucket_nickname)
    repo_id = new_repo_id()
    importing = body.create_mode == CreateMode.IMPORT
    if importing and not body.prefix:
        raise InvalidInput("importing a repo needs the prefix of the existing Icechunk repository")
    prefix = join_prefix(bucket.prefix, body.prefix or f"{repo_id}-{body.name}")
    if len(prefix) > MAX_REPO_PREFIX_LENGTH:
        raise InvalidInput(f"repo prefix is longer than {MAX_REPO_PREFIX_LENGTH} characters")
    if importing:
        await storage_ops.check_no_links(bucket, prefix)
    if importing and not await _icechunk_repo_exists(
        bucket, prefix, await vendor.for_service(bucket, prefix)
    ):
        raise InvalidInput(
            f"no Icechunk repository at prefix {prefix!r} in bucket config {bucket.nickname!r}"
        )
    creating = body.create_mode == CreateMode.CREATE
    if creating:
        if not can_write(bucket):
            raise InvalidInput(
                f"bucket config {bucket.nickname!r} has anonymous (read-only) access: "
                "repos cannot be created in it"
            )
        # Checked before the catalog is locked: storage may be slow. Data that appears in between is
        # caught by Icechunk itself, which refuses to create a repository in a prefix that isn't clean.
        if not await storage_ops.prefix_is_empty(bucket, prefix, await vendor.for_service(bucket, prefix)):
            raise Conflict(
                f"prefix {prefix!r} in bucket {bucket.name!r} already holds data; choose another prefix"
            )
    await lock_org(conn, org.org_id)
    now = utcnow()
    await _check_name_free(conn, org, body.name, now)
    await _check_prefix_free(conn, org, bucket, prefix)
    values: dict[str, Any] = {
        "id": repo_id,
        "org_id": org.org_id,
        "name": body.name,
        "live_name": body.name,
        "kind": RepoKind.Icechunk.value,
        "bucket_id": str(bucket.id),
        "prefix": prefix,
        "description": body.description,
        "metadata": body.metadata,
        "visibility": RepoVisibility.PRIVATE.value,
        "status_mode": RepoOperationMode.ONLINE.value,
        "status_message": None,
        "status_initiated_by": {"principal_id": principal.id},
        "created": now,
        "updated": now,
        "created_by": principal.id,
        "lifecycle": LIFECYCLE_CREATING if creating else LIFECYCLE_ACTIVE,
        "lease_expires_at": now + timedelta(seconds=codec.settings.creation_lease_seconds)
        if creating
        else None,
        "retain_data": False,
    }
    try:
        async with conn.begin_nested():
            await conn.execute(insert(repos).values(**values))
    except IntegrityError as exc:
        raise Conflict(f"repo {org.org_name}/{body.name} already exists") from exc
    await write_index(conn, repo_id, body.metadata)
    row = (await conn.execute(select(repos).where(repos.c.id == repo_id))).one()
    return await RepoReader(conn, codec, org).to_wire(row), row


async def activate_repo(
    conn: AsyncConnection,
    codec: BucketCodec,
    vendor: CredentialVendor,
    org: OrgScope,
    principal: Principal,
    name: str,
) -> OpenRepoResponse:
    """Make a repo created in ``create`` mode visible, once its Icechunk repository exists. Idempotent."""
    lifecycles = (LIFECYCLE_CREATING, LIFECYCLE_ACTIVE)
    record = await repo_record(conn, org, name, lifecycles)
    row = record.repo
    if row.lifecycle == LIFECYCLE_CREATING:
        bucket = await internal_bucket(conn, codec, org, row)
        if not await _icechunk_repo_exists(bucket, row.prefix, await vendor.for_service(bucket, row.prefix)):
            raise Conflict(
                f"no Icechunk repository exists at prefix {row.prefix!r} yet: create it, then activate"
            )
        await conn.execute(
            update(repos)
            .where(repos.c.id == row.id, repos.c.lifecycle == LIFECYCLE_CREATING)
            .values(lifecycle=LIFECYCLE_ACTIVE, lease_expires_at=None, updated=utcnow())
        )
        record = await repo_record(conn, org, name, lifecycles)
    return await open_info(codec, vendor, org, principal, record, write=True)


async def _icechunk_repo_exists(
    bucket: BucketResponse, prefix: str, credentials: AnyCredentials | None
) -> bool:
    try:
        storage = icechunk_storage(bucket, prefix, credentials, scatter_initial_credentials=False)
        return await icechunk.Repository.exists_async(storage)
    except icechunk.IcechunkError as exc:
        raise StorageRefused(f"could not check bucket {bucket.nickname!r} for the new repository") from exc


# ---------------------------------------------------------------------------------------- changing status


async def set_status(
    conn: AsyncConnection, org: OrgScope, principal: Principal, name: str, change: RepoOperationStatusUpdate
) -> RepoOperationStatusResponse:
    row = await repo_row(conn, org, name)
    await conn.execute(
        update(repos)
        .where(repos.c.id == row.id)
        .values(
            status_mode=change.mode.value,
            status_message=change.message,
            status_initiated_by={"principal_id": principal.id},
            updated=utcnow(),
        )
    )
    return status_of((await conn.execute(select(repos).where(repos.c.id == row.id))).one())


async def modify_repo(
    conn: AsyncConnection, codec: BucketCodec, org: OrgScope, name: str, change: RepoModifyRequest
) -> Repo:
    """Change the description and metadata, all or nothing.

    ``add_metadata`` adds new keys (409 for a key that exists with another value: its value stays unless
    it is updated); ``update_metadata`` sets keys whether or not they exist; ``remove_metadata`` removes
    existing keys (409 for a missing one, likely a misspelling). A key may appear in one of them only
    (422). An empty description clears it.
    """
    _check_one_change_per_key(change)
    row = await repo_row(conn, org, name)
    metadata = dict(row.metadata or {})
    missing = [key for key in change.remove_metadata or [] if key not in metadata]
    if missing:
        have = ", ".join(repr(k) for k in sorted(metadata)) or "none"
        raise Conflict(f"metadata key {missing[0]!r} does not exist, so it cannot be removed (keys: {have})")
    for key in change.remove_metadata or []:
        metadata.pop(key, None)  # a key may be listed twice
    for key, value in (change.add_metadata or {}).items():
        # The same value again is no conflict: a retried request must not fail.
        if key in metadata and metadata[key] != value:
            raise Conflict(f"metadata key {key!r} already exists; use update_metadata to change it")
        metadata[key] = value
    metadata.update(change.update_metadata or {})
    try:
        validate_metadata(metadata)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    values: dict[str, Any] = {"metadata": metadata or None, "updated": utcnow()}
    if "description" in change.model_fields_set:
        values["description"] = change.description or None
    await conn.execute(update(repos).where(repos.c.id == row.id).values(**values))
    await write_index(conn, row.id, metadata)
    return await get_repo(conn, codec, org, name)


def _check_one_change_per_key(change: RepoModifyRequest) -> None:
    seen: dict[str, str] = {}
    for field in ("add_metadata", "update_metadata", "remove_metadata"):
        for key in getattr(change, field) or []:
            if key in seen and seen[key] != field:
                raise InvalidInput(
                    f"metadata key {key!r} is in both {seen[key]} and {field}: change each key once"
                )
            seen[key] = field


# ----------------------------------------------------------------------------------------------- deleting


async def deletion_progress(conn: AsyncConnection, org: OrgScope, repo_id: str) -> RepoDeletionProgress:
    """How far the removal of a ``deleting`` repo's data has come; not in progress once its row is gone."""
    row = (
        await conn.execute(
            select(repos.c.cleanup_removed).where(
                repos.c.id == repo_id, repos.c.org_id == org.org_id, repos.c.lifecycle == LIFECYCLE_DELETING
            )
        )
    ).one_or_none()
    if row is None:
        return RepoDeletionProgress(repo_id=repo_id, in_progress=False)
    return RepoDeletionProgress(repo_id=repo_id, in_progress=True, removed_objects=row.cleanup_removed or 0)


async def drop_row(conn: AsyncConnection, repo_id: str) -> None:
    await conn.execute(delete(repo_metadata).where(repo_metadata.c.repo_id == repo_id))
    await conn.execute(delete(repos).where(repos.c.id == repo_id))


async def delete_repo(
    conn: AsyncConnection,
    org: OrgScope,
    principal: Principal,
    name: str,
    *,
    immediate: bool,
    retain_data: bool,
    grace_seconds: float,
) -> str | None:
    """Delete a repo; return its id when its data must now be removed (the caller runs the cleanup).

    * ``immediate`` and ``retain_data``: the row goes now; the data stays.
    * ``immediate``: the name is freed now; the row stays, hidden, until the data has gone.
    * neither: the repo becomes a ghost, restorable until the grace period ends.
    """
    row = await repo_row(conn, org, name, (LIFECYCLE_CREATING, LIFECYCLE_ACTIVE, LIFECYCLE_GHOST))
    now = utcnow()
    if immediate and retain_data:
        await drop_row(conn, row.id)
        return None
    marks: dict[str, Any] = {
        "deleted_at": now,
        "deleted_by": principal.id,
        "retain_data": retain_data,
        "updated": now,
    }
    if not immediate and row.lifecycle == LIFECYCLE_GHOST:
        return None  # deleted already: its deadline stays
    if not immediate and row.lifecycle != LIFECYCLE_CREATING:
        due = now + timedelta(seconds=grace_seconds)
        await conn.execute(
            update(repos)
            .where(repos.c.id == row.id)
            .values(lifecycle=LIFECYCLE_GHOST, cleanup_due_at=due, **marks)
        )
        return None
    await conn.execute(
        update(repos)
        .where(repos.c.id == row.id)
        .values(
            lifecycle=LIFECYCLE_DELETING, live_name=None, cleanup_due_at=now, cleanup_started_at=now, **marks
        )
    )
    return row.id


async def restore_repo(conn: AsyncConnection, codec: BucketCodec, org: OrgScope, name: str) -> Repo:
    """Bring a ghost back before its data is removed; 409 saying why when that is not possible."""
    validate_repo_name(name)
    full = f"{org.org_name}/{name}"
    holder = (
        await conn.execute(
            select(repos.c.id, repos.c.lifecycle).where(
                repos.c.org_id == org.org_id, repos.c.live_name == name
            )
        )
    ).one_or_none()
    if holder is not None and holder.lifecycle == LIFECYCLE_GHOST:
        restored = await conn.execute(
            update(repos)
            .where(and_(repos.c.id == holder.id, repos.c.lifecycle == LIFECYCLE_GHOST))
            .values(
                lifecycle=LIFECYCLE_ACTIVE,
                deleted_at=None,
                deleted_by=None,
                cleanup_due_at=None,
                updated=utcnow(),
            )
        )
        if restored.rowcount == 1:
            return await get_repo(conn, codec, org, name)
    if holder is not None and holder.lifecycle == LIFECYCLE_ACTIVE:
        raise Conflict(f"repo {full} exists and is not deleted: there is nothing to restore")
    if holder is not None and holder.lifecycle == LIFECYCLE_CREATING:
        raise Conflict(f"the name {full} is being taken by a new repo: there is nothing to restore")
    purging = (
        await conn.execute(
            select(repos.c.id)
            .where(
                repos.c.org_id == org.org_id,
                repos.c.name == name,
                repos.c.lifecycle == LIFECYCLE_DELETING,
            )
            .limit(1)
        )
    ).one_or_none()
    if purging is not None:
        raise Conflict(
            f"repo {full} can no longer be restored: its grace period is over (or it was deleted "
            "with immediate=true) and its data is being removed"
        )
    raise NotFound(f"repo {full} not found: there is no deleted repo of that name to restore")
