"""``/orgs/{org}/buckets`` endpoints, the org's storage binding and its virtual-chunk access policies."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Query, Response

from arraylake.server.buckets import check, service, virtual_policies
from arraylake.server.credentials import binding
from arraylake.server.deps import BucketManager, BucketReader, OrgBucketAccess, OrgListing, RepoCreator
from arraylake.server.policy import may_see_bucket_secrets
from arraylake.server.repos.listing import repos_in_bucket
from arraylake.types import (
    AnyCredentials,
    BucketCheckReport,
    BucketModifyRequest,
    BucketResponse,
    NewBucket,
    PaginatedVirtualChunkPolicies,
    Repo,
    StorageBinding,
    VirtualChunkPolicy,
    VirtualChunkPolicyRequest,
)

router = APIRouter(tags=["buckets"])


@router.post("/orgs/{org}/buckets", response_model=BucketResponse, status_code=201)
async def create_bucket(new: NewBucket, call: BucketManager) -> BucketResponse:
    """Create a bucket config. The bucket itself is not created in the object store."""
    async with call.ctx.engine.begin() as conn:
        return await service.create_bucket(conn, call.ctx.codec, call.member, call.principal, new)


@router.get("/orgs/{org}/buckets", response_model=list[BucketResponse])
async def list_buckets(
    call: BucketReader,
    nickname: str | None = Query(default=None, description="Only the bucket config with this nickname"),
) -> list[BucketResponse]:
    """The org's bucket configs, by nickname."""
    reveal = may_see_bucket_secrets(call.principal, call.org)
    async with call.ctx.reader.connect() as conn:
        return await service.list_buckets(
            conn, call.ctx.codec, call.member, nickname=nickname, reveal_secrets=reveal
        )


@router.get("/orgs/{org}/buckets/{bucket_id}", response_model=BucketResponse)
async def get_bucket(bucket_id: UUID, call: BucketReader) -> BucketResponse:
    reveal = may_see_bucket_secrets(call.principal, call.org)
    async with call.ctx.reader.connect() as conn:
        return await service.get_bucket(
            conn, call.ctx.codec, call.member, str(bucket_id), reveal_secrets=reveal
        )


@router.patch("/orgs/{org}/buckets/{bucket_id}", response_model=BucketResponse)
async def modify_bucket(bucket_id: UUID, change: BucketModifyRequest, call: BucketManager) -> BucketResponse:
    """Change a bucket config; its location (platform, name, prefix) only while no repo uses it."""
    async with call.ctx.engine.begin() as conn:
        return await service.modify_bucket(
            conn, call.ctx.codec, call.member, call.principal, str(bucket_id), change
        )


@router.delete("/orgs/{org}/buckets/{bucket_id}", status_code=204)
async def delete_bucket(bucket_id: UUID, call: BucketManager) -> Response:
    """Delete a bucket config (409 while repos use it). The bucket's contents are not touched."""
    async with call.ctx.engine.begin() as conn:
        await service.delete_bucket(conn, call.member, call.principal, str(bucket_id))
    return Response(status_code=204)


@router.post("/orgs/{org}/buckets/{bucket_id}/default", status_code=204)
async def set_default_bucket(bucket_id: UUID, call: BucketManager) -> Response:
    """Make this bucket config the org's default for new repos."""
    async with call.ctx.engine.begin() as conn:
        await service.set_default_bucket(conn, call.member, call.principal, str(bucket_id))
    return Response(status_code=204)


@router.get("/orgs/{org}/buckets/{bucket_id}/repos", response_model=list[Repo])
async def list_bucket_repos(bucket_id: UUID, call: BucketReader, visible: OrgListing) -> list[Repo]:
    """The repos that keep their data in this bucket config."""
    async with call.ctx.reader.connect() as conn:
        return await repos_in_bucket(
            conn, call.ctx.codec, call.member, str(bucket_id), only_names=visible.names
        )


@router.get("/orgs/{org}/buckets/{bucket_id}/credentials", response_model=AnyCredentials | None)
async def bucket_credentials(bucket_id: UUID, asked: OrgBucketAccess) -> AnyCredentials | None:
    """Credentials for the whole bucket config (its prefix), e.g. for virtual chunk containers: read for
    those who may read the org's repos, write for those who may create them."""
    call = asked.call
    async with call.ctx.reader.connect() as conn:
        row = await service.bucket_row(conn, call.member, str(bucket_id))
    bucket = call.ctx.codec.to_wire(row, default_bucket_id=None, org_name=call.org, internal=True)
    return await call.ctx.vendor.credentials(
        bucket, bucket.prefix, write=asked.write, principal_id=call.principal.id, may_write=asked.may_write
    )


@router.post("/orgs/{org}/buckets/{bucket_id}/check", response_model=BucketCheckReport)
async def check_bucket(bucket_id: UUID, call: RepoCreator) -> BucketCheckReport:
    """Try the bucket config with the write credentials the caller would receive: list, write, read,
    conditional writes and delete on a scratch key under its prefix (removed afterwards), each reported
    with its cause. For those who may create repos."""
    async with call.ctx.reader.connect() as conn:
        row = await service.bucket_row(conn, call.member, str(bucket_id))
    bucket = call.ctx.codec.to_wire(row, default_bucket_id=None, org_name=call.org, internal=True)
    return await check.check_bucket(bucket, call.ctx.vendor, principal_id=call.principal.id)


@router.get("/orgs/{org}/storage-binding", response_model=StorageBinding)
async def storage_binding(call: BucketManager) -> StorageBinding:
    """What binds the org's delegated storage to it: the external id its AWS roles must require, the label
    of its GCS buckets and the metadata of its Azure containers. Generated by the service; admins only."""
    async with call.ctx.reader.connect() as conn:
        return binding.describe(call.org, await binding.org_binding(conn, call.member.org_id))


POLICIES = "/orgs/{org}/settings/virtual-chunk-access-policies"


@router.get(POLICIES, response_model=PaginatedVirtualChunkPolicies)
async def list_virtual_chunk_policies(
    call: BucketReader,
    page: int = Query(default=1, ge=1),
    size: int = Query(default=100, ge=1, le=1000),
) -> PaginatedVirtualChunkPolicies:
    """The buckets (and sub-prefixes) the org lets virtual chunk references read from."""
    async with call.ctx.reader.connect() as conn:
        return await virtual_policies.list_policies(conn, call.ctx.codec, call.member, page=page, size=size)


@router.put(POLICIES, response_model=VirtualChunkPolicy)
async def put_virtual_chunk_policy(
    request: VirtualChunkPolicyRequest, call: BucketManager
) -> VirtualChunkPolicy:
    """Authorize a bucket config (or a sub-prefix of it) as a source of virtual chunks."""
    async with call.ctx.engine.begin() as conn:
        return await virtual_policies.put_policy(conn, call.ctx.codec, call.member, call.principal, request)


@router.delete(POLICIES, status_code=204)
async def delete_virtual_chunk_policy(request: VirtualChunkPolicyRequest, call: BucketManager) -> Response:
    """Withdraw an authorization: readers no longer get credentials for it."""
    async with call.ctx.engine.begin() as conn:
        await virtual_policies.delete_policy(conn, call.member, call.principal, request)
    return Response(status_code=204)
