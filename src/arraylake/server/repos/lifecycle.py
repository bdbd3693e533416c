"""A repo's life in the catalog: create (register, import or reserve), activate, change status and metadata.

Lifecycle (see ``db.schema``): a repo created in ``create`` mode stays hidden while ``creating`` and becomes
``active`` when its creator reports that the Icechunk repository exists; if that never happens, the service
removes it when its lease ends. Ending a repo is :mod:`.deletion`'s job.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any

import icechunk
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.names import join_prefix
from arraylake.server import storage_ops
from arraylake.server.audit.record import record
from arraylake.server.buckets.service import (
    BucketCodec,
    bucket_row,
    bucket_row_by_nickname,
    default_bucket_id,
)
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.db.locks import lock_org
from arraylake.server.db.schema import (
    LIFECYCLE_ACTIVE,
    LIFECYCLE_CREATING,
    LIFECYCLE_DELETING,
    LIFECYCLE_GHOST,
    buckets,
    repos,
)
from arraylake.server.errors import Conflict, InvalidInput, StorageRefused
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.server.repos.metadata_index import write_index
from arraylake.server.repos.records import (
    RepoReader,
    RepoRecord,
    get_repo,
    record_bucket,
    repo_record,
    repo_row,
    status_of,
)
from arraylake.storage import can_write, icechunk_storage
from arraylake.types import (
    AnyCredentials,
    BucketResponse,
    CreateMode,
    Repo,
    RepoCreateBody,
    RepoKind,
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
    the Icechunk repository must already exist at the prefix. A V1 repo is registered: its history lives in
    the catalog, its chunks under ``{bucket prefix}/{repo id}``, where its clients put them."""
    v1 = body.kind == RepoKind.V1
    if v1:
        _check_v1_body(body)
    bucket = await _target_bucket(conn, codec, org, body.bucket_nickname)
    repo_id = new_repo_id()
    importing = body.create_mode == CreateMode.IMPORT
    if importing and not body.prefix:
        raise InvalidInput("importing a repo needs the prefix of the existing Icechunk repository")
    prefix = join_prefix(bucket.prefix, repo_id if v1 else body.prefix or f"{repo_id}-{body.name}")
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
    if v1 and not can_write(bucket):
        raise InvalidInput(
            f"bucket config {bucket.nickname!r} has anonymous (read-only) access: "
            "V1 repos cannot keep their chunks in it"
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
        "kind": body.kind.value,
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
    repo = await RepoReader(conn, codec, org).to_wire(row)
    await record(
        conn,
        "repo.import" if importing else "repo.create",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        repo=body.name,
        target=repo_id,
        details={
            "kind": body.kind.value,
            "create_mode": body.create_mode.value,
            "bucket": bucket.nickname,
            "prefix": prefix,
        },
    )
    return repo, row


def _check_v1_body(body: RepoCreateBody) -> None:
    """422 unless a V1 repo is asked for as the one way it can be made: registered, at a prefix of its own."""
    if body.create_mode != CreateMode.REGISTER:
        raise InvalidInput(
            f"V1 repos are created with create_mode 'register', not {body.create_mode.value!r}: there is "
            "no Icechunk repository to create or import"
        )
    if body.prefix is not None:
        raise InvalidInput("V1 repos take no prefix: their chunks live under the repo's id")


async def activate_repo(
    conn: AsyncConnection, codec: BucketCodec, vendor: CredentialVendor, org: OrgScope, name: str
) -> RepoRecord:
    """Make a repo created in ``create`` mode visible, once its Icechunk repository exists. Idempotent."""
    lifecycles = (LIFECYCLE_CREATING, LIFECYCLE_ACTIVE)
    record = await repo_record(conn, org, name, lifecycles)
    row = record.repo
    if row.lifecycle == LIFECYCLE_CREATING:
        bucket = record_bucket(codec, org, record)
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
    return record


async def _icechunk_repo_exists(
    bucket: BucketResponse, prefix: str, credentials: AnyCredentials | None
) -> bool:
    try:
        storage = icechunk_storage(bucket, prefix, credentials, scatter_initial_credentials=False)
        return await icechunk.Repository.exists_async(storage)
    except icechunk.IcechunkError as exc:
        raise StorageRefused(f"could not check bucket {bucket.nickname!r} for the new repository") from exc


async def set_status(
    conn: AsyncConnection, org: OrgScope, principal: Principal, name: str, change: RepoOperationStatusUpdate
) -> RepoOperationStatusResponse:
    """Put a repo online, in maintenance (read-only) or offline."""
    row = await repo_row(conn, org, name)
    previous = status_of(row)
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
    await record(
        conn,
        "repo.status",
        actor=principal,
        org_id=org.org_id,
        org=org.org_name,
        repo=name,
        target=row.id,
        details={
            "mode": change.mode.value,
            "message": change.message,
            "previous_mode": previous.mode.value,
            "previous_message": previous.message,
        },
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
