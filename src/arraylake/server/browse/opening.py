"""Opening a repo's Icechunk repository for a viewer, read-only, and resolving a ref to a session.

The storage credentials are vended for the viewer (read access to the repo's prefix), exactly as ``/open``
would hand them to the viewer's client; the opened repository is kept briefly per (viewer, repo) so that
moving between a repo's pages does not open it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

import icechunk

from arraylake.server.deps import OnRepo
from arraylake.server.errors import InvalidInput, NotFound, StorageUnavailable
from arraylake.server.repos.records import RepoRecord, cached_repo_record, record_bucket
from arraylake.storage import apply_bucket_flags, icechunk_storage
from arraylake.types import RepoActions, RepoKind, utcnow

KEEP_SECONDS = 60.0
MAX_OPEN = 256
SNAPSHOT_ID = re.compile(r"[0-9A-Z]{20}")
MAX_REF_LENGTH = 256


@dataclass(frozen=True)
class OpenedRepo:
    """A repo's Icechunk repository, opened read-only for one viewer."""

    record: RepoRecord
    repository: icechunk.Repository


@dataclass
class _Kept:
    opened: OpenedRepo
    until: float


class _Opened:
    """Recently opened repositories by (principal, repo id); an entry never outlives its credentials."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
        self._lock = asyncio.Lock()

    def get(self, key: tuple[str, str]) -> OpenedRepo | None:
        kept = self._entries.get(key)
        if kept is None or kept.until <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return kept.opened

    def put(self, key: tuple[str, str], opened: OpenedRepo, seconds: float) -> None:
        self._entries[key] = _Kept(opened, time.monotonic() + seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > MAX_OPEN:
            self._entries.popitem(last=False)


_opened = _Opened()


async def open_for_viewer(on: OnRepo) -> OpenedRepo:
    """The repo of ``on`` opened read-only with storage credentials vended for ``on.principal``.

    404 for a V1 repo (it has no Icechunk repository to look into) or when the repository is missing in
    its bucket; 502 when storage does not answer.
    """
    if RepoActions.CAN_READ not in on.actions:  # pages only look; the caller authorized reading
        raise InvalidInput("reading the repo is needed to look inside it")
    ctx = on.ctx
    record = await cached_repo_record(ctx.catalog, ctx.reader, on.scope, on.repo)
    if RepoKind(record.repo.kind) != RepoKind.Icechunk:
        raise NotFound(
            f"repo {on.org}/{on.repo} is a legacy V1 repo: its contents are shown by the V1 client"
        )
    key = (on.principal.id, record.repo.id)
    found = _opened.get(key)
    if found is not None and found.record.repo.updated == record.repo.updated:
        return found
    bucket = record_bucket(ctx.codec, on.scope, record)
    credentials = await ctx.vendor.credentials(
        bucket, record.repo.prefix, write=False, principal_id=on.principal.id, may_write=False
    )
    storage = icechunk_storage(bucket, record.repo.prefix, credentials, scatter_initial_credentials=False)
    config = apply_bucket_flags(bucket, None)
    try:
        repository = await icechunk.Repository.open_async(storage, config=config)
    except icechunk.IcechunkError as exc:
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
            raise NotFound(f"repo {on.org}/{on.repo} has no Icechunk repository in its bucket") from exc
        raise StorageUnavailable(f"could not open repo {on.org}/{on.repo} in its bucket") from exc
    opened = OpenedRepo(record, repository)
    seconds = KEEP_SECONDS
    expiration = getattr(credentials, "expiration", None)
    if expiration is not None:
        seconds = min(seconds, max(0.0, (expiration - utcnow() - timedelta(seconds=30)).total_seconds()))
    if seconds > 0:
        _opened.put(key, opened, seconds)
    return opened


@dataclass(frozen=True)
class ResolvedRef:
    """What a ref named: ``kind`` is ``branch``, ``tag`` or ``snapshot``; ``snapshot_id`` its snapshot."""

    name: str
    kind: str
    snapshot_id: str


async def resolve_ref(repository: icechunk.Repository, ref: str | None) -> ResolvedRef:
    """A branch name, a tag name or a snapshot id (``main`` when not given); 404 naming what is missing,
    422 for a malformed ref."""
    ref = (ref or "main").strip()
    if not ref or len(ref) > MAX_REF_LENGTH or any(ord(c) < 32 for c in ref):
        raise InvalidInput("ref: give a branch, a tag or a snapshot id")
    # Tried in this order; a miss is an answer, not an error, until none of them names the ref.
    with contextlib.suppress(icechunk.IcechunkError):
        return ResolvedRef(ref, "branch", await repository.lookup_branch_async(ref))
    with contextlib.suppress(icechunk.IcechunkError):
        return ResolvedRef(ref, "tag", await repository.lookup_tag_async(ref))
    if SNAPSHOT_ID.fullmatch(ref):
        with contextlib.suppress(icechunk.IcechunkError):
            return ResolvedRef(ref, "snapshot", (await repository.lookup_snapshot_async(ref)).id)
    raise NotFound(f"no branch, tag or snapshot named {ref!r} in this repo")


async def session_at(repository: icechunk.Repository, ref: ResolvedRef) -> icechunk.Session:
    """A read-only session at the ref's snapshot (a branch is read at the snapshot it was resolved to)."""
    return await repository.readonly_session_async(snapshot_id=ref.snapshot_id)
