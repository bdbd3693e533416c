"""Searching an org's repos for the catalog: text search, filters, four sort orders, keyset (cursor) pages.

Every page is one range scan of an index in its sort order, from the cursor on, whatever its depth: by name
through ``(org_id, lifecycle, name, id)``, by last update through ``(org_id, lifecycle, updated, id)``.

The text search is a case-insensitive substring match on the name, the description and the text of the
metadata (its JSON: keys and values alike, so ``era5`` finds ``{"project": "era5"}``; the JSON keeps
non-ASCII characters escaped, so only ASCII text finds them there, and SQLite folds the case of ASCII letters
only). Metadata filters (``key:value``) are exact, through the ``repo_metadata`` index, as the API's
``filter_metadata``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, Text, cast, func, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import LIFECYCLE_ACTIVE, buckets, orgs, repos
from arraylake.server.errors import InvalidInput
from arraylake.server.identity.principals import OrgScope
from arraylake.server.repos.metadata_index import filter_clauses
from arraylake.types import MetadataScalar, RepoKind, RepoMetadata, RepoOperationMode

Sort = Literal["name", "-name", "updated", "-updated"]
SORTS: tuple[Sort, ...] = ("name", "-name", "updated", "-updated")
MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class RepoSearch:
    """What to look for: ``meta`` pairs all match (each pair's value is any of its candidates, e.g. the
    text ``"2020"`` or the number ``2020``); ``after`` is the cursor of the previous page."""

    text: str = ""
    status: RepoOperationMode | None = None
    kind: RepoKind | None = None
    meta: list[tuple[str, list[MetadataScalar]]] = field(default_factory=list)
    bucket: str | None = None
    sort: Sort = "name"
    after: str | None = None
    size: int = 50

    @property
    def filtered(self) -> bool:
        return bool(self.text or self.status or self.kind or self.meta or self.bucket)


@dataclass(frozen=True)
class RepoRow:
    name: str
    description: str | None
    kind: str
    bucket: str | None
    status_mode: str
    updated: datetime
    metadata: RepoMetadata
    size_bytes: int | None = None
    """Chunk bytes its branches and tags reach, as its last maintenance run measured."""
    size_measured_at: datetime | None = None


@dataclass(frozen=True)
class RepoSearchPage:
    rows: list[RepoRow]
    next_cursor: str | None
    total: int | None
    """The org's count of active repos, only for the plain listing of a caller who sees them all."""


def encode_cursor(sort: Sort, row: RepoRow, repo_id: str) -> str:
    key: str = row.name if sort.lstrip("-") == "name" else row.updated.isoformat()
    raw = json.dumps({"s": sort, "k": key, "i": repo_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(sort: Sort, cursor: str) -> tuple[str | datetime, str]:
    """The sort key and id a cursor of ``sort`` holds, or 422."""
    bad = InvalidInput("after: this page cursor is malformed; start again from the first page")
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise bad from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("k"), str) or not isinstance(raw.get("i"), str):
        raise bad
    if raw.get("s") != sort:
        raise InvalidInput(f"after: this page cursor is for another order than sort={sort}; start again")
    if sort.lstrip("-") == "name":
        return raw["k"], raw["i"]
    try:
        moment = datetime.fromisoformat(raw["k"])
    except ValueError as exc:
        raise bad from exc
    if moment.tzinfo is None:
        raise bad
    return moment, raw["i"]


def _pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(scope: OrgScope, only_names: set[str] | None, query: RepoSearch) -> list[Any]:
    where: list[Any] = [repos.c.org_id == scope.org_id, repos.c.lifecycle == LIFECYCLE_ACTIVE]
    if only_names is not None:
        where.append(repos.c.name.in_(sorted(only_names)))
    if query.text:
        pattern = _pattern(query.text)
        where.append(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (repos.c.name, repos.c.description, cast(repos.c.metadata, Text))
                )
            )
        )
    if query.status is not None:
        where.append(repos.c.status_mode == query.status.value)
    if query.kind is not None:
        where.append(repos.c.kind == query.kind.value)
    for key, candidates in query.meta:
        where.append(or_(*(clause for value in candidates for clause in filter_clauses({key: value}))))
    if query.bucket is not None:
        bucket_id = (
            select(buckets.c.id)
            .where(buckets.c.org_id == scope.org_id, buckets.c.nickname == query.bucket)
            .scalar_subquery()
        )
        where.append(repos.c.bucket_id == bucket_id)
    return where


def search_statement(scope: OrgScope, only_names: set[str] | None, query: RepoSearch) -> Select[Any]:
    """The statement of a page (one row more than ``query.size``, to tell whether a next page exists)."""
    column = repos.c.name if query.sort.lstrip("-") == "name" else repos.c.updated
    descending = query.sort.startswith("-")
    where = _where(scope, only_names, query)
    if query.after is not None:
        key, repo_id = decode_cursor(query.sort, query.after)
        position = tuple_(column, repos.c.id)
        start = tuple_(literal(key, type_=column.type), literal(repo_id, type_=repos.c.id.type))
        where.append(position < start if descending else position > start)
    order = (column.desc(), repos.c.id.desc()) if descending else (column, repos.c.id)
    return (
        select(
            repos.c.id,
            repos.c.name,
            repos.c.description,
            repos.c.kind,
            repos.c.status_mode,
            repos.c.updated,
            repos.c.metadata,
            repos.c.size_bytes,
            repos.c.size_measured_at,
            buckets.c.nickname,
        )
        .outerjoin(buckets, buckets.c.id == repos.c.bucket_id)
        .where(*where)
        .order_by(*order)
        .limit(query.size + 1)
    )


async def search_repos(
    conn: AsyncConnection, scope: OrgScope, *, only_names: set[str] | None, query: RepoSearch
) -> RepoSearchPage:
    """A page of the org's active repos that match ``query``; ``only_names`` limits it to the repos the
    caller may see (``None``: all). A malformed ``query.after`` is a 422."""
    if not 1 <= query.size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"size must be between 1 and {MAX_PAGE_SIZE}")
    if only_names is not None and not only_names:
        return RepoSearchPage([], None, None)
    found = (await conn.execute(search_statement(scope, only_names, query))).all()
    rows = [
        RepoRow(
            name=r.name,
            description=r.description,
            kind=r.kind,
            bucket=r.nickname,
            status_mode=r.status_mode,
            updated=r.updated,
            metadata=r.metadata or {},
            size_bytes=r.size_bytes,
            size_measured_at=r.size_measured_at,
        )
        for r in found[: query.size]
    ]
    next_cursor = None
    if len(found) > query.size:
        next_cursor = encode_cursor(query.sort, rows[-1], found[query.size - 1].id)
    total = None
    if only_names is None and not query.filtered:
        counted = select(orgs.c.active_repos).where(orgs.c.id == scope.org_id)
        total = (await conn.execute(counted)).scalar_one()
    return RepoSearchPage(rows, next_cursor, total)
