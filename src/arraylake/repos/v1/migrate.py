"""Copying a V1 repo's history into an Icechunk repository: one snapshot per V1 commit, resumable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from arraylake.exceptions import ArraylakeError
from arraylake.repos.v1 import metadata as md
from arraylake.repos.v1.repo import AsyncRepo
from arraylake.repos.v1.sessions import LocalReadSession
from arraylake.repos.v1.store import V1Store
from arraylake.types.v1 import CollectionName, Commit

if TYPE_CHECKING:
    import icechunk

V1_COMMIT_ID = "v1_commit_id"
"""Snapshot metadata key naming the V1 commit a snapshot was copied from; a rerun skips those commits."""
V1_COMMIT_TIME = "v1_commit_time"
V1_REPO = "v1_repo"
TAG_BRANCH_PREFIX = "v1-migration-tag-"
"""Prefix of the working branches that carry the history of tags no V1 branch reaches (deleted at the end)."""
CHUNK_BATCH = 256


class MigrationError(ArraylakeError, RuntimeError):
    """A V1 repo cannot be migrated into the target as asked (the target is not a migration of it)."""


class MigrationVerificationError(MigrationError):
    """The migrated Icechunk repo differs from the V1 repo at some branch or tag (see ``report``)."""

    def __init__(self, message: str, report: MigrationReport):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class MigrationProgress:
    """Where a migration is: ``stage`` ``"copy"`` (``done`` of ``total`` commits) or ``"verify"`` (refs)."""

    stage: Literal["copy", "verify"]
    done: int
    total: int
    detail: str = ""


@dataclass
class RefCheck:
    """The comparison of one branch or tag: the V1 commit against the Icechunk snapshot."""

    kind: Literal["branch", "tag"]
    name: str
    commit_id: str | None
    snapshot_id: str | None
    arrays: int = 0
    groups: int = 0
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass
class MigrationReport:
    """What a migration did: snapshots written now and found from an earlier run, refs, verification."""

    source: str
    target: str
    commits: int = 0
    copied: int = 0
    already_copied: int = 0
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    checks: list[RefCheck] = field(default_factory=list)
    verified: bool = False

    @property
    def mismatches(self) -> list[str]:
        """Every difference verification found, as ``kind name: path: what``."""
        return [f"{c.kind} {c.name}: {m}" for c in self.checks for m in c.mismatches]

    @property
    def ok(self) -> bool:
        return not self.mismatches


ProgressCallback = Callable[[MigrationProgress], None]


def reader_at(source: AsyncRepo, commit_id: str | None) -> AsyncRepo:
    """A read-only view of the V1 repo at ``commit_id``, beside ``source`` (whose session is left alone)."""
    reader = AsyncRepo(source.db, source.chunkstore, source.repo_name, source.author)
    reader._session = LocalReadSession.at(source.db, None, commit_id, source.author)
    return reader


def chain(commits: dict[str, Commit], tip: str) -> list[Commit]:
    """The commits from the first to ``tip``, oldest first."""
    found: list[Commit] = []
    current: str | None = tip
    while current is not None and current in commits:
        found.append(commits[current])
        current = commits[current].parent_commit
    return found[::-1]


def _depth(key: str) -> int:
    return key.count("/")


class Migration:
    """Copies ``source`` into ``target`` commit by commit; run it again to resume where it stopped.

    Each V1 branch's chain is copied onto the Icechunk branch of the same name, oldest commit first, so
    every snapshot written stays reachable (and is found again by a rerun through its ``v1_commit_id``).
    """

    def __init__(
        self, source: AsyncRepo, target: icechunk.Repository, on_progress: ProgressCallback | None = None
    ):
        self.source = source
        self.target = target
        self.on_progress = on_progress
        self.copied: dict[str, str] = {}
        """V1 commit id -> snapshot id, for the commits in the target already."""
        self.ours: set[str] = set()
        """Snapshots this migration may move a branch away from: copies and the initial snapshot."""

    def _progress(self, stage: Literal["copy", "verify"], done: int, total: int, detail: str = "") -> None:
        if self.on_progress is not None:
            self.on_progress(MigrationProgress(stage, done, total, detail))

    async def _find_copied(self) -> str:
        """Fill ``copied`` from the target's history; the target's initial snapshot."""
        initial: str | None = None
        starts = [{"branch": b} for b in await self.target.list_branches_async()]
        starts += [{"tag": t} for t in await self.target.list_tags_async()]
        for start in starts:
            async for snapshot in self.target.async_ancestry(**start):
                commit_id = (snapshot.metadata or {}).get(V1_COMMIT_ID)
                if commit_id:
                    self.copied.setdefault(str(commit_id), snapshot.id)
                    self.ours.add(snapshot.id)
                if snapshot.parent_id is None:
                    initial = snapshot.id
                    self.ours.add(snapshot.id)
        if initial is None:
            raise MigrationError(f"{self.target} has no initial snapshot")
        return initial

    async def run(self, report: MigrationReport) -> None:
        """Copy every commit reachable from a branch or tag of the source, then set branches and tags."""
        db = self.source.db
        commits = {c.id: c for c in await db.all_commits()}
        branches = {b.id: b.commit_id for b in await db.get_branches()}
        tags = {t.label: t.commit.id for t in await db.get_tags()}
        # main first, so that commits shared with other branches are copied onto main
        lines = [(name, branches[name]) for name in sorted(branches, key=lambda b: (b != "main", b))]
        reached = {c.id for _, tip in lines for c in chain(commits, tip)}
        lines += [(TAG_BRANCH_PREFIX + t, c) for t, c in sorted(tags.items()) if c not in reached]
        wanted = {c.id for _, tip in lines for c in chain(commits, tip)}
        initial = await self._find_copied()
        self.target.set_default_commit_metadata({})  # the V1 authors, not the one migrating
        report.commits = len(wanted)
        report.already_copied = len(wanted & self.copied.keys())
        done = report.already_copied
        self._progress("copy", done, len(wanted))
        for branch, tip in lines:
            for commit in chain(commits, tip):
                if commit.id in self.copied:
                    continue
                base = self.copied[commit.parent_commit] if commit.parent_commit else initial
                await self._point(branch, base)
                snapshot = await self._copy_commit(commit, branch)
                self.copied[commit.id] = snapshot
                self.ours.add(snapshot)
                report.copied += 1
                done += 1
                self._progress("copy", done, len(wanted), commit.message)
        for name, tip in branches.items():
            await self._point(name, self.copied[tip], only_forward=True)
            report.branches[name] = await self.target.lookup_branch_async(name)
        existing = await self.target.list_tags_async()
        for name, commit_id in tags.items():
            if name not in existing:
                await self.target.create_tag_async(name, self.copied[commit_id])
            report.tags[name] = await self.target.lookup_tag_async(name)
        for branch in await self.target.list_branches_async():
            if branch.startswith(TAG_BRANCH_PREFIX) and branch not in branches:
                await self.target.delete_branch_async(branch)

    async def _point(self, branch: str, snapshot: str, *, only_forward: bool = False) -> None:
        """Make ``branch`` point at ``snapshot``, moving it only from a snapshot of this migration."""
        if branch not in await self.target.list_branches_async():
            await self.target.create_branch_async(branch, snapshot)
            return
        tip = await self.target.lookup_branch_async(branch)
        if tip == snapshot:
            return
        if tip not in self.ours:
            if only_forward:
                return  # committed to after the migration: verification reports how it differs
            raise MigrationError(
                f"branch {branch!r} of the target has snapshots that are not from this migration"
            )
        await self.target.reset_branch_async(branch, snapshot, from_snapshot_id=tip)

    async def _copy_commit(self, commit: Commit, branch: str) -> str:
        """Write what ``commit`` changed onto ``branch`` and commit it; the new snapshot."""
        db = self.source.db
        meta, chunks = await asyncio.gather(
            db.modified_paths_commit(CollectionName.metadata, commit.id),
            db.modified_paths_commit(CollectionName.chunks, commit.id),
        )
        reader = reader_at(self.source, commit.id)
        source = V1Store(reader, read_only=True)
        session = await self.target.writable_session_async(branch)
        target = session.store
        from zarr.core.buffer import default_buffer_prototype

        prototype = default_buffer_prototype()
        written = {key for p in meta if not p.deleted and (key := md.zarr3_key(p.path))}
        gone = {key for p in meta if p.deleted and (key := md.zarr3_key(p.path))} - written
        for key in sorted(gone, key=_depth, reverse=True):
            await target.delete(key)
        if not await target.exists(md.ZARR_JSON):
            written.add(md.ZARR_JSON)  # the root group V1 implies
        for key in sorted(written, key=_depth):
            value = await source.get(key, prototype)
            if value is not None:
                await target.set(key, value)
        for path in (p.path for p in chunks if p.deleted):
            key = md.zarr3_key(path)
            if key is not None:
                await target.delete(key)
        await self._copy_chunks(reader, target, [p.path for p in chunks if not p.deleted], prototype)
        metadata: dict[str, Any] = {
            "author_email": commit.author_email,
            V1_COMMIT_ID: commit.id,
            V1_COMMIT_TIME: commit.commit_time.isoformat(),
            V1_REPO: self.source.repo_name,
        }
        if commit.author_name:
            metadata["author_name"] = commit.author_name
        return await session.commit_async(commit.message, metadata=metadata, allow_empty=True)

    @staticmethod
    async def _copy_chunks(reader: AsyncRepo, target: Any, paths: Iterable[str], prototype: Any) -> None:
        keyed = [(path, key) for path in paths if (key := md.zarr3_key(path)) is not None]
        for start in range(0, len(keyed), CHUNK_BATCH):
            batch = keyed[start : start + CHUNK_BATCH]
            data = await reader._get_chunks([path for path, _ in batch])
            await asyncio.gather(
                *(
                    target.set(key, prototype.buffer.from_bytes(data[path]))
                    for path, key in batch
                    if path in data
                )
            )
