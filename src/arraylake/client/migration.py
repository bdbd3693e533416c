"""``migrate_v1_repo``: a V1 repo copied, with its history, into a new Icechunk repo beside it."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from arraylake.exceptions import ArraylakeNotFoundError
from arraylake.names import parse_repo_name
from arraylake.repos.v1.migrate import (
    Migration,
    MigrationError,
    MigrationReport,
    MigrationVerificationError,
    ProgressCallback,
)
from arraylake.repos.v1.migrate_verify import verify as verify_migration
from arraylake.repos.v1.repo import AsyncRepo
from arraylake.types import RepoKind

if TYPE_CHECKING:
    import icechunk

    from arraylake.client.repos import RepoMethods

MIGRATED_FROM = "migrated_from"
"""Catalog metadata key of a migrated repo: the V1 repo it was copied from (how a rerun recognises it)."""


def target_name(name: str, to: str | None) -> str:
    """``ORG/REPO-icechunk``, or ``to`` (``ORG/NAME``, or ``NAME`` in the source's org)."""
    org, repo = parse_repo_name(name)
    if to is None:
        return f"{org}/{repo}-icechunk"
    return to if "/" in to else f"{org}/{to}"


async def _open_target(
    client: RepoMethods, source: str, target: str, bucket_config_nickname: str | None
) -> icechunk.Repository:
    """The target repo: the one an earlier run made (to resume), else a new one in the source's bucket."""
    try:
        existing = await client.get_repo_object(target)
    except ArraylakeNotFoundError:
        origin = await client.get_repo_object(source)
        bucket = bucket_config_nickname or (origin.bucket.nickname if origin.bucket else None)
        metadata = {**(origin.metadata or {}), MIGRATED_FROM: source}
        created = await client.create_repo(
            target, bucket_config_nickname=bucket, description=origin.description, metadata=metadata
        )
        return cast("icechunk.Repository", created)
    if existing.kind != RepoKind.Icechunk or (existing.metadata or {}).get(MIGRATED_FROM) != source:
        raise MigrationError(
            f"{target} exists and is not a migration of {source}: choose another name for the new repo"
        )
    return cast("icechunk.Repository", await client.get_repo(target))


async def migrate_v1(
    client: RepoMethods,
    name: str,
    *,
    to: str | None,
    bucket_config_nickname: str | None,
    verify: bool,
    on_progress: ProgressCallback | None,
) -> MigrationReport:
    """See :meth:`arraylake.AsyncClient.migrate_v1_repo`."""
    source = await client.get_repo(name, checkout=False, read_only=True)
    if not isinstance(source, AsyncRepo):
        raise MigrationError(f"{name} is an Icechunk repo already: only V1 repos are migrated")
    new_name = target_name(name, to)
    target = await _open_target(client, name, new_name, bucket_config_nickname)
    report = MigrationReport(source=name, target=new_name)
    await Migration(source, target, on_progress).run(report)
    if verify:
        await verify_migration(source, target, report, on_progress)
        if not report.ok:
            shown = "\n  ".join(report.mismatches[:20])
            more = len(report.mismatches) - 20
            tail = f"\n  ... and {more} more" if more > 0 else ""
            raise MigrationVerificationError(f"{new_name} differs from {name}:\n  {shown}{tail}", report)
    return report
