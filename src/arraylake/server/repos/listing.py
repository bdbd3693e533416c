"""Listing an org's repos: pages by number or cursor (deep ones from page anchors), all of them, by bucket."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.buckets.service import BucketCodec, bucket_row
from arraylake.server.db.schema import LIFECYCLE_ACTIVE, LIFECYCLE_GHOST, buckets, orgs, principals, repos
from arraylake.server.identity.principals import OrgScope
from arraylake.server.repos.metadata_index import filter_clauses
from arraylake.server.repos.page_anchors import PageAnchors
from arraylake.server.repos.records import BUCKET_COLUMNS, RepoReader, record_of
from arraylake.types import PaginatedRepos, Repo, RepoMetadata


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
        record = record_of(row)
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
                    *BUCKET_COLUMNS,
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
    """Every active repo of the org by name, unpaginated; ``only_names`` as in :func:`list_repos`."""
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
    """The active repos that keep their data in one bucket config of the org (404 if it is not the org's)."""
    await bucket_row(conn, org, bucket_id)
    query = select(repos).where(
        repos.c.org_id == org.org_id, repos.c.bucket_id == bucket_id, repos.c.lifecycle == LIFECYCLE_ACTIVE
    )
    if only_names is not None:
        query = query.where(repos.c.name.in_(sorted(only_names)))
    rows = (await conn.execute(query.order_by(repos.c.name))).all()
    return await RepoReader(conn, codec, org).many(list(rows))
