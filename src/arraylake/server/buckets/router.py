"""``/orgs/{org}/buckets`` endpoints."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response

from arraylake.server.buckets import check, service
from arraylake.server.context import AppContext, app_context, current_principal
from arraylake.server.credentials import binding, virtual
from arraylake.server.identity.principals import Principal
from arraylake.server.paths import org_name
from arraylake.server.policy import Access, Action, allows, authorize, may_see_bucket_secrets, visible_repos
from arraylake.server.repos.service import repos_in_bucket
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


def codec(ctx: AppContext) -> service.BucketCodec:
    return service.BucketCodec(ctx.settings, ctx.secrets)


@router.post("/orgs/{org}/buckets", response_model=BucketResponse, status_code=201)
async def create_bucket(
    new: NewBucket,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> BucketResponse:
    """Create a bucket config. The bucket itself is not created in the object store."""
    member = authorize(principal, org, Action.MANAGE_BUCKETS)
    async with ctx.engine.begin() as conn:
        return await service.create_bucket(conn, codec(ctx), member, principal, new)


@router.get("/orgs/{org}/buckets", response_model=list[BucketResponse])
async def list_buckets(
    org: str = Depends(org_name),
    nickname: str | None = Query(default=None, description="Only the bucket config with this nickname"),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[BucketResponse]:
    """The org's bucket configs, by nickname."""
    member = authorize(principal, org, Action.READ_BUCKETS)
    reveal = may_see_bucket_secrets(principal, org)
    async with ctx.reader.connect() as conn:
        return await service.list_buckets(conn, codec(ctx), member, nickname=nickname, reveal_secrets=reveal)


@router.get("/orgs/{org}/buckets/{bucket_id}", response_model=BucketResponse)
async def get_bucket(
    bucket_id: UUID,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> BucketResponse:
    member = authorize(principal, org, Action.READ_BUCKETS)
    reveal = may_see_bucket_secrets(principal, org)
    async with ctx.reader.connect() as conn:
        return await service.get_bucket(conn, codec(ctx), member, str(bucket_id), reveal_secrets=reveal)


@router.patch("/orgs/{org}/buckets/{bucket_id}", response_model=BucketResponse)
async def modify_bucket(
    bucket_id: UUID,
    change: BucketModifyRequest,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> BucketResponse:
    """Change a bucket config; its location (platform, name, prefix) only while no repo uses it."""
    member = authorize(principal, org, Action.MANAGE_BUCKETS)
    async with ctx.engine.begin() as conn:
        return await service.modify_bucket(conn, codec(ctx), member, str(bucket_id), change)


@router.delete("/orgs/{org}/buckets/{bucket_id}", status_code=204)
async def delete_bucket(
    bucket_id: UUID,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Delete a bucket config (409 while repos use it). The bucket's contents are not touched."""
    member = authorize(principal, org, Action.MANAGE_BUCKETS)
    async with ctx.engine.begin() as conn:
        await service.delete_bucket(conn, member, str(bucket_id))
    return Response(status_code=204)


@router.post("/orgs/{org}/buckets/{bucket_id}/default", status_code=204)
async def set_default_bucket(
    bucket_id: UUID,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Make this bucket config the org's default for new repos."""
    member = authorize(principal, org, Action.MANAGE_BUCKETS)
    async with ctx.engine.begin() as conn:
        await service.set_default_bucket(conn, member, str(bucket_id))
    return Response(status_code=204)


@router.get("/orgs/{org}/buckets/{bucket_id}/repos", response_model=list[Repo])
async def list_bucket_repos(
    bucket_id: UUID,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> list[Repo]:
    """The repos that keep their data in this bucket config."""
    member = authorize(principal, org, Action.READ_BUCKETS)
    _, names = visible_repos(principal, org)
    async with ctx.reader.connect() as conn:
        return await repos_in_bucket(conn, codec(ctx), member, str(bucket_id), only_names=names)


@router.get("/orgs/{org}/buckets/{bucket_id}/credentials", response_model=AnyCredentials | None)
async def bucket_credentials(
    bucket_id: UUID,
    access: Access = Query(default="read"),
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> AnyCredentials | None:
    """Credentials for the whole bucket config (its prefix), e.g. for virtual chunk containers: read for
    those who may read the org's repos, write for those who may create them."""
    member = authorize(principal, org, Action.CREATE_REPO if access == "write" else Action.READ_BUCKETS)
    async with ctx.reader.connect() as conn:
        row = await service.bucket_row(conn, member, str(bucket_id))
    bucket = codec(ctx).to_wire(row, default_bucket_id=None, org_name=org, internal=True)
    return await ctx.vendor.credentials(
        bucket,
        bucket.prefix,
        write=access == "write",
        principal_id=principal.id,
        may_write=allows(principal, org, Action.CREATE_REPO),
    )


@router.post("/orgs/{org}/buckets/{bucket_id}/check", response_model=BucketCheckReport)
async def check_bucket(
    bucket_id: UUID,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> BucketCheckReport:
    """Try the bucket config with the write credentials the caller would receive: list, write, read,
    conditional writes and delete on a scratch key under its prefix (removed afterwards), each reported
    with its cause. For those who may create repos."""
    member = authorize(principal, org, Action.CREATE_REPO)
    async with ctx.reader.connect() as conn:
        row = await service.bucket_row(conn, member, str(bucket_id))
    bucket = codec(ctx).to_wire(row, default_bucket_id=None, org_name=org, internal=True)
    return await check.check_bucket(bucket, ctx.vendor, principal_id=principal.id)


@router.get("/orgs/{org}/storage-binding", response_model=StorageBinding)
async def storage_binding(
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> StorageBinding:
    """What binds the org's delegated storage to it: the external id its AWS roles must require, the label
    of its GCS buckets and the metadata of its Azure containers. Generated by the service; admins only."""
    member = authorize(principal, org, Action.MANAGE_BUCKETS)
    async with ctx.reader.connect() as conn:
        return binding.describe(org, await binding.org_binding(conn, member.org_id))


POLICIES = "/orgs/{org}/settings/virtual-chunk-access-policies"


@router.get(POLICIES, response_model=PaginatedVirtualChunkPolicies)
async def list_virtual_chunk_policies(
    page: int = Query(default=1, ge=1),
    size: int = Query(default=100, ge=1, le=1000),
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> PaginatedVirtualChunkPolicies:
    """The buckets (and sub-prefixes) the org lets virtual chunk references read from."""
    member = authorize(principal, org, Action.READ_BUCKETS)
    async with ctx.reader.connect() as conn:
        return await virtual.list_policies(conn, codec(ctx), member, page=page, size=size)


@router.put(POLICIES, response_model=VirtualChunkPolicy)
async def put_virtual_chunk_policy(
    request: VirtualChunkPolicyRequest,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> VirtualChunkPolicy:
    """Authorize a bucket config (or a sub-prefix of it) as a source of virtual chunks."""
    member = authorize(principal, org, Action.MANAGE_BUCKETS)
    async with ctx.engine.begin() as conn:
        return await virtual.put_policy(conn, codec(ctx), member, principal, request)


@router.delete(POLICIES, status_code=204)
async def delete_virtual_chunk_policy(
    request: VirtualChunkPolicyRequest,
    org: str = Depends(org_name),
    principal: Principal = Depends(current_principal),
    ctx: AppContext = Depends(app_context),
) -> Response:
    """Withdraw an authorization: readers no longer get credentials for it."""
    member = authorize(principal, org, Action.MANAGE_BUCKETS)
    async with ctx.engine.begin() as conn:
        await virtual.delete_policy(conn, member, request)
    return Response(status_code=204)
