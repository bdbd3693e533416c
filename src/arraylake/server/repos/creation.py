"""Creating an Icechunk repo on the service itself (for the web app), the way a client's ``create`` mode does:
reserve the name, create the Icechunk repository in the bucket, activate.

A client does the middle step with credentials vended for it; here the service does it with credentials
vended for the same principal, so storage sees the same caller either way. If anything fails after the
reservation, the reservation is released and whatever was written removed, as a client's abort does; if the
service stops in between, the reservation's lease ends and the janitor removes it.
"""

from __future__ import annotations

import asyncio

import icechunk

from arraylake.server.context import AppContext
from arraylake.server.db.schema import LIFECYCLE_CREATING
from arraylake.server.deps import InOrg
from arraylake.server.errors import StorageRefused
from arraylake.server.logs import get_logger
from arraylake.server.repos import deletion, lifecycle
from arraylake.server.repos.cleanup import Cleaner
from arraylake.server.repos.records import record_bucket, record_to_wire, repo_record
from arraylake.storage import apply_bucket_flags, icechunk_storage
from arraylake.types import CreateMode, Repo, RepoCreateBody, RepoKind

log = get_logger("arraylake.server.repos")


async def create_icechunk_repo(call: InOrg, body: RepoCreateBody) -> Repo:
    """Create a new, empty Icechunk repo (a ``main`` branch) in the catalog and in its bucket.

    ``call`` must be authorized to create repos in the org. The domain's errors propagate: 422 for bad
    input, 409 for a taken name or prefix, 424/502 when storage refuses.
    """
    ctx, org, principal = call.ctx, call.member, call.principal
    body = body.model_copy(update={"create_mode": CreateMode.CREATE, "kind": RepoKind.Icechunk})
    async with ctx.engine.begin() as conn:
        await lifecycle.create_repo(conn, ctx.codec, ctx.vendor, org, principal, body)
    try:
        async with ctx.engine.connect() as conn:  # the writer: the reservation was just committed
            record = await repo_record(conn, org, body.name, (LIFECYCLE_CREATING,))
        bucket = record_bucket(ctx.codec, org, record)
        prefix = record.repo.prefix
        credentials = await ctx.vendor.credentials(
            bucket, prefix, write=True, principal_id=principal.id, may_write=True
        )
        storage = icechunk_storage(bucket, prefix, credentials, scatter_initial_credentials=False)
        try:
            await icechunk.Repository.create_async(storage, config=apply_bucket_flags(bucket, None))
        except icechunk.IcechunkError as exc:
            # Storage's own words stay in the log: they may name more of the bucket than the viewer sees.
            log.warning("creating an Icechunk repository failed", repo=body.name, error=str(exc))
            raise StorageRefused(
                f"could not create the Icechunk repository in bucket config {bucket.nickname!r}"
            ) from exc
        async with ctx.engine.begin() as conn:
            record = await lifecycle.activate_repo(conn, ctx.codec, ctx.vendor, org, body.name)
    except BaseException:
        await asyncio.shield(_release(ctx, call, body.name))
        raise
    return await record_to_wire(ctx.codec, org, record)


async def _release(ctx: AppContext, call: InOrg, name: str) -> None:
    """Give the name back and remove what was written (best effort: the lease's end does it otherwise)."""
    try:
        async with ctx.engine.begin() as conn:
            repo_id = await deletion.delete_repo(
                conn,
                call.member,
                call.principal,
                name,
                immediate=True,
                retain_data=False,
                grace_seconds=0,
            )
    except Exception as exc:
        log.warning("releasing a failed creation failed; its lease will end", repo=name, error=str(exc))
        return
    if repo_id is not None:
        ctx.spawn(_purge(ctx, repo_id))


async def _purge(ctx: AppContext, repo_id: str) -> None:
    try:
        await Cleaner(ctx.engine, ctx.codec, ctx.vendor).purge(repo_id)
    except Exception as exc:
        log.warning(
            "removing a failed creation's data failed; the janitor will retry",
            repo_id=repo_id,
            error=str(exc),
        )
