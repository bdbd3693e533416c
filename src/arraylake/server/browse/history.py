"""A repo's commits, branches and tags, read from its Icechunk repository."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import icechunk

from arraylake.server.browse.opening import SNAPSHOT_ID
from arraylake.server.errors import InvalidInput, NotFound, StorageUnavailable

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_REFS = 500
"""Branches (and tags) a page lists; a repo with more says how many were left out."""
LOOKUPS_AT_ONCE = 16


@dataclass(frozen=True)
class Commit:
    """A snapshot as history shows it; the author comes from the commit metadata our client writes."""

    id: str
    parent_id: str | None
    message: str
    written_at: datetime
    author_name: str | None
    author_email: str | None

    @property
    def author(self) -> str:
        """``Name <email>``, one of them, or ``—``."""
        if self.author_name and self.author_email:
            return f"{self.author_name} <{self.author_email}>"
        return self.author_name or self.author_email or "—"


def commit_of(info: icechunk.SnapshotInfo) -> Commit:
    metadata: dict[str, Any] = info.metadata or {}
    name, email = metadata.get("author_name"), metadata.get("author_email")
    return Commit(
        id=info.id,
        parent_id=info.parent_id,
        message=info.message,
        written_at=info.written_at,
        author_name=name if isinstance(name, str) and name else None,
        author_email=email if isinstance(email, str) and email else None,
    )


@dataclass(frozen=True)
class RefTip:
    """A branch or a tag and the commit it points at."""

    name: str
    kind: str
    commit: Commit


@dataclass(frozen=True)
class Refs:
    branches: list[RefTip]
    tags: list[RefTip]
    branches_left_out: int
    tags_left_out: int


@dataclass(frozen=True)
class HistoryPage:
    """Commits newest first; ``next_after`` is the cursor of the next page (``None`` on the last one)."""

    commits: list[Commit]
    next_after: str | None


def _storage_failed(exc: icechunk.IcechunkError) -> StorageUnavailable:
    return StorageUnavailable("could not read the repo's history from storage")


async def ref_names(repository: icechunk.Repository) -> tuple[list[str], list[str]]:
    """The names of the branches (``main`` first) and of the tags, sorted."""
    try:
        branches, tags = await asyncio.gather(repository.list_branches_async(), repository.list_tags_async())
    except icechunk.IcechunkError as exc:
        raise _storage_failed(exc) from exc
    return sorted(branches, key=lambda name: (name != "main", name)), sorted(tags)


async def snapshot(repository: icechunk.Repository, snapshot_id: str) -> Commit:
    try:
        return commit_of(await repository.lookup_snapshot_async(snapshot_id))
    except icechunk.IcechunkError as exc:
        raise NotFound(f"no snapshot {snapshot_id} in this repo") from exc


async def list_refs(repository: icechunk.Repository) -> Refs:
    """Every branch and tag (up to :data:`MAX_REFS` of each) with the commit it points at."""
    branch_names, tag_names = await ref_names(repository)
    gate = asyncio.Semaphore(LOOKUPS_AT_ONCE)

    async def tip(name: str, kind: str) -> RefTip | None:
        async with gate:
            try:
                if kind == "branch":
                    snapshot_id = await repository.lookup_branch_async(name)
                else:
                    snapshot_id = await repository.lookup_tag_async(name)
                info = await repository.lookup_snapshot_async(snapshot_id)
            except icechunk.IcechunkError:  # deleted since it was listed
                return None
        return RefTip(name, kind, commit_of(info))

    found = await asyncio.gather(
        *(tip(name, "branch") for name in branch_names[:MAX_REFS]),
        *(tip(name, "tag") for name in tag_names[:MAX_REFS]),
    )
    tips = [t for t in found if t is not None]
    return Refs(
        branches=[t for t in tips if t.kind == "branch"],
        tags=[t for t in tips if t.kind == "tag"],
        branches_left_out=max(0, len(branch_names) - MAX_REFS),
        tags_left_out=max(0, len(tag_names) - MAX_REFS),
    )


def check_cursor(after: str | None) -> str | None:
    """A page cursor (a snapshot id) or ``None``; 422 for anything else."""
    text = (after or "").strip()
    if not text:
        return None
    if not SNAPSHOT_ID.fullmatch(text):
        raise InvalidInput("after: give the snapshot id of the last commit shown")
    return text


async def history(
    repository: icechunk.Repository, snapshot_id: str, after: str | None = None, size: int = PAGE_SIZE
) -> HistoryPage:
    """Up to ``size`` commits of the ancestry of ``snapshot_id``, newest first, after the commit ``after``
    (a cursor from the previous page) when given."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"size: give a page size between 1 and {MAX_PAGE_SIZE}")
    start = check_cursor(after)
    if start is not None:
        await snapshot(repository, start)  # 404 for an unknown cursor
    commits: list[Commit] = []
    more = False
    ancestry = repository.async_ancestry(snapshot_id=start or snapshot_id)
    try:
        skip = start is not None  # the cursor was the last commit of the previous page
        async for info in ancestry:
            if skip:
                skip = False
                continue
            if len(commits) == size:
                more = True
                break
            commits.append(commit_of(info))
    except icechunk.IcechunkError as exc:
        raise _storage_failed(exc) from exc
    finally:
        await ancestry.aclose()
    return HistoryPage(commits, commits[-1].id if more and commits else None)
