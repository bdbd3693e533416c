"""Opening a repo, on the service: everything ``/open`` answers, the credential refreshes that follow it
(the repo's prefix, one virtual chunk container) and what activating a new repo answers.

Each request asks the policy once (the dependency that authorized it carries the answer), reads the repo
record through the catalog cache, and decrypts the bucket's secrets once.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.context import AppContext
from arraylake.server.db.schema import LIFECYCLE_CREATING
from arraylake.server.deps import AskedAccess, InOrg, OnRepo, StorageAccess
from arraylake.server.errors import Forbidden, InvalidInput, NotFound
from arraylake.server.identity.principals import OrgScope, Principal
from arraylake.server.repos import lifecycle
from arraylake.server.repos.records import (
    RepoRecord,
    cached_repo_record,
    record_bucket,
    repo_record,
    status_of,
)
from arraylake.types import (
    AnyCredentials,
    Author,
    OpenRepoResponse,
    RepoKind,
    VirtualChunkCredentials,
)

MAX_URL_PREFIX_LENGTH = 2048
_URL_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\x00-\x1f\x7f]+")


async def open_repo(call: StorageAccess) -> OpenRepoResponse:
    """Everything a client needs to open the repo, with credentials for the access the call was granted."""
    on = call.on
    record = await cached_repo_record(on.ctx.catalog, on.ctx.reader, on.scope, on.repo)
    return await _open_info(
        on.ctx, on.scope, on.principal, record, write=call.write, may_write=call.may_write
    )


async def activate(call: InOrg, name: str) -> OpenRepoResponse:
    """Activate a repo created in ``create`` mode (idempotent); answer what ``/open`` would for writing."""
    ctx = call.ctx
    async with ctx.engine.begin() as conn:
        record = await lifecycle.activate_repo(conn, ctx.codec, ctx.vendor, call.member, name)
    # Credentials are made once the activation is committed: no transaction stays open across storage calls.
    return await _open_info(ctx, call.member, call.principal, record, write=True, may_write=None)


async def bucket_credentials(call: AskedAccess) -> AnyCredentials | None:
    """Storage credentials for the repo's prefix only (``None`` when its bucket needs none).

    Also answers the creator of a repo still being created (``create`` mode), for writing it, whatever the
    policy said: that is how it writes the new Icechunk repository before activating it.
    """
    ctx, principal = call.ctx, call.principal
    refusal: NotFound | Forbidden | None = call.refusal
    if call.granted is not None:
        on = call.granted.on
        try:
            record = await cached_repo_record(ctx.catalog, ctx.reader, on.scope, on.repo)
        except NotFound as missing:
            refusal = missing
        else:
            bucket = record_bucket(ctx.codec, on.scope, record)
            return await ctx.vendor.credentials(
                bucket,
                record.repo.prefix,
                write=call.granted.write,
                principal_id=principal.id,
                may_write=call.granted.may_write,
            )
    async with ctx.reader.connect() as conn:
        reserved = await reservation_of(conn, principal, call.org, call.repo)
    if reserved is None:
        assert refusal is not None
        raise refusal
    scope, record = reserved
    bucket = record_bucket(ctx.codec, scope, record)
    return await ctx.vendor.credentials(
        bucket, record.repo.prefix, write=True, principal_id=principal.id, may_write=True
    )


async def container_credentials(call: OnRepo, url_prefix: str) -> VirtualChunkCredentials:
    """What ``/open`` answers for one virtual chunk container of the repo (its key in
    ``virtual_chunk_credentials``), so a client refreshes one container without opening the repo again."""
    check_url_prefix(url_prefix)
    ctx = call.ctx
    record = await cached_repo_record(ctx.catalog, ctx.reader, call.scope, call.repo)
    row, bucket = record.repo, record_bucket(ctx.codec, call.scope, record)
    found = None
    if row.kind == RepoKind.Icechunk:
        found = await ctx.containers.for_container(
            call.scope, call.principal, row.id, bucket, row.prefix, url_prefix
        )
    if found is None:
        raise NotFound(
            f"{url_prefix!r} is not a virtual chunk container that repo {call.org}/{call.repo} may read: "
            f"its Icechunk config does not declare it, or no virtual chunk access policy of org {call.org} "
            "covers it"
        )
    return found


def check_url_prefix(url_prefix: str) -> None:
    """422 unless ``url_prefix`` looks like a container's URL prefix (``scheme://...``)."""
    if len(url_prefix) > MAX_URL_PREFIX_LENGTH:
        raise InvalidInput(f"url_prefix is longer than {MAX_URL_PREFIX_LENGTH} characters")
    if _URL_PREFIX.fullmatch(url_prefix) is None:
        raise InvalidInput(
            f"url_prefix {url_prefix!r} is not the URL prefix of a virtual chunk container "
            "(like s3://bucket/path/, as in virtual_chunk_credentials of /open)"
        )


async def reservation_of(
    conn: AsyncConnection, principal: Principal, org: str, name: str
) -> tuple[OrgScope, RepoRecord] | None:
    """A repo that this principal is creating (``create`` mode, not yet activated), with its org."""
    member = principal.memberships.get(org)
    if member is None:
        return None
    try:
        record = await repo_record(conn, member, name, (LIFECYCLE_CREATING,))
    except NotFound:
        return None
    return (member, record) if record.repo.created_by == principal.id else None


async def _open_info(
    ctx: AppContext,
    org: OrgScope,
    principal: Principal,
    record: RepoRecord,
    *,
    write: bool,
    may_write: bool | None,
) -> OpenRepoResponse:
    """Bucket, prefix, credentials for this principal (read-only unless ``write``), the virtual chunk
    containers' credentials the org's policies allow, author and status."""
    row = record.repo
    source = record_bucket(ctx.codec, org, record)
    credentials = await ctx.vendor.credentials(
        source, row.prefix, write=write, principal_id=principal.id, may_write=may_write
    )
    kind = RepoKind(row.kind)
    containers = {}
    if kind == RepoKind.Icechunk:  # V1 repos have no Icechunk config to declare containers in
        containers = await ctx.containers.for_repo(org, principal, row.id, source, row.prefix)
    return OpenRepoResponse(
        repo_bucket=ctx.codec.shown(source, default_bucket_id=record.default_bucket_id),
        repo_prefix=row.prefix,
        repo_credentials=credentials,
        virtual_chunk_credentials=containers,
        author=Author(name=principal.author_name, email=principal.email),
        principal_id=principal.id,
        status=status_of(row),
        kind=kind,
    )
