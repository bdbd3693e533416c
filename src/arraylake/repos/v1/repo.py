"""``AsyncRepo``: a V1 repo's sessions, refs, commits and its Zarr and xarray views."""

from __future__ import annotations

import asyncio
import warnings
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from arraylake.exceptions import ArraylakeHttpError, CommitFailedError
from arraylake.repos.v1.chunkstore import Chunkstore
from arraylake.repos.v1.documents import DocumentAccess
from arraylake.repos.v1.metastore import Metastore
from arraylake.repos.v1.render import CommitData, CommitLog, SessionStatus, Tree
from arraylake.repos.v1.retry import CommitRetrySchedule
from arraylake.repos.v1.sessions import (
    DEFAULT_SESSION_TIMEOUT,
    Author,
    LocalReadSession,
    LocalSession,
    LocalWriteSession,
    lifetime_left,
)
from arraylake.types import utcnow
from arraylake.types.v1 import NewCommit, NewSession, NewTag, SessionInfo, Tag, UpdateBranchBody, is_object_id

if TYPE_CHECKING:
    import xarray as xr
    import zarr

    from arraylake.repos.v1.store import V1Store
    from arraylake.repos.v1.sync import Repo

DEFAULT_IS_WRITE_SESSION = False
"""Under zarr-python 3, checkouts are read-only unless asked otherwise."""
NO_CHANGES = "No changes to commit"
LOST_RACE = ("Failed to update branch", "Cannot create branch")
NO_BRANCH = "Branch does not exist"


def _detail(exc: ArraylakeHttpError) -> str:
    return exc.detail if isinstance(exc.detail, str) else str(exc)


class AsyncRepo(DocumentAccess):
    """A V1 repo (asyncio): a metastore of documents, sessions and commits plus a chunkstore.

    Reads and writes happen in the current session (see :meth:`checkout`); :meth:`commit` turns a write
    session into a commit on its branch.

    Args:
        metastore_db: The repo's metastore.
        chunkstore: The repo's chunkstore.
        name: ``ORG/REPO``.
        author: Who commits.
    """

    def __init__(self, metastore_db: Metastore, chunkstore: Chunkstore, name: str, author: Author):
        self.db = metastore_db
        self.chunkstore = chunkstore
        self.repo_name = name
        self.author = author
        self._session: LocalSession | None = None

    def __repr__(self) -> str:
        where = "nothing checked out"
        if self._session is not None:
            where = f"branch {self._session.branch!r} at {self._session.base_commit}"
        return f"<arraylake.repos.v1.AsyncRepo {self.repo_name}: {where}>"

    def __getstate__(self) -> dict[str, Any]:
        # The session travels: a worker that unpickles this repo writes into the same session.
        return {
            "db": self.db,
            "chunkstore": self.chunkstore,
            "name": self.repo_name,
            "author": self.author,
            "session": self._session,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["db"], state["chunkstore"], state["name"], state["author"])  # type: ignore[misc]
        self._session = state["session"]

    def _sync_facade(self) -> Repo:
        """This repo behind the synchronous :class:`~arraylake.repos.v1.Repo` (what ``Client`` returns)."""
        from arraylake.repos.v1.sync import Repo

        return Repo(self)

    # --------------------------------------------------------------------------------------- sessions

    async def get_ref(self, ref: str) -> tuple[str | None, str | None]:
        """``(commit, branch)`` of a branch, tag or commit id; ``branch`` is ``None`` when detached."""
        branches = await self.db.get_branches([ref])
        if branches:
            return branches[0].commit_id, branches[0].id
        if ref == "main":
            return None, "main"
        tags = await self.db.get_tags([ref])
        if tags:
            return tags[0].commit.id, None
        if is_object_id(ref):
            if any(commit.id == ref for commit in await self.db.all_commits()):
                return ref, None
            raise ValueError(f"commit {ref} is not in the history of {self.repo_name}")
        raise ValueError(f"ref {ref!r} is not a branch, tag or commit of {self.repo_name}")

    async def create_session(
        self,
        ref: str | None = "main",
        for_writing: bool = DEFAULT_IS_WRITE_SESSION,
        expires_in: timedelta = DEFAULT_SESSION_TIMEOUT,
        message: str | None = None,
    ) -> LocalSession:
        """A new session at ``ref`` (``None``: where the current session is). Write sessions live on the
        service for ``expires_in`` (at most 7 days); read sessions are local."""
        if ref is None:
            base_commit, branch = self.session.base_commit, self.session.branch
        else:
            base_commit, branch = await self.get_ref(ref)
        if not for_writing:
            return LocalReadSession.at(self.db, branch, base_commit, self.author)
        if branch is None:
            warnings.warn(
                f"{ref} is not on a branch tip: this session cannot write; check out a branch to write",
                UserWarning,
                stacklevel=2,
            )
        info = await self.db.create_session(
            NewSession(
                branch=branch,
                base_commit=base_commit,
                author_name=self.author.name,
                author_email=self.author.email,
                message=message,
                expires_in=expires_in,
            )
        )
        return LocalWriteSession.from_info(self.db, info)

    async def join_session(self, session_id: str) -> LocalSession:
        """Join a write session started elsewhere (another process, a Dask worker): writes land in it."""
        return LocalWriteSession.from_info(self.db, await self.db.get_session(session_id))

    async def list_active_sessions(self) -> list[SessionInfo]:
        """The write sessions of this repo that have not expired, oldest first."""
        return sorted(await self.db.list_sessions(), key=lambda s: s.start_time)

    async def checkout(
        self,
        ref: str | None = "main",
        session_token: str | None = None,
        for_writing: bool = DEFAULT_IS_WRITE_SESSION,
        expires_in: timedelta = DEFAULT_SESSION_TIMEOUT,
    ) -> str | None:
        """Start a session at a branch, tag or commit (or join ``session_token``); return its base commit.

        A tag or commit is detached: readable, not writable. ``for_writing`` asks the service for a write
        session that lives ``expires_in``.
        """
        if session_token is not None:
            self._session = await self.join_session(session_token)
        else:
            self._session = await self.create_session(ref, for_writing, expires_in)
        return self._session.base_commit

    # ---------------------------------------------------------------------------------------- commits

    async def commit(
        self, message: str, auto_ff: bool = True, checkout_for_writing: bool = DEFAULT_IS_WRITE_SESSION
    ) -> str | None:
        """Commit the session's writes to its branch and check out a new session there; the commit id.

        When others committed to the branch meanwhile, the session is rebased onto their commits and the
        commit retried, unless they wrote a path this session wrote too. ``auto_ff`` is accepted for
        compatibility and ignored.
        """
        session = self.session
        if session.branch is None:
            raise RuntimeError("not on a branch tip: check out a branch to commit")
        schedule = CommitRetrySchedule.from_config()
        waits = schedule.waits()
        for _ in range(schedule.max_attempts):
            outcome = await self._attempt(session, message)
            if outcome is not _RETRY:
                if isinstance(outcome, _NoChanges):
                    return session.base_commit
                assert isinstance(outcome, str)
                await self._after_commit(session, outcome, checkout_for_writing)
                return outcome
            await self._rebase(session)
            wait = next(waits, None)
            if wait is None:
                break
            await asyncio.sleep(wait)
        raise CommitFailedError(
            f"Failed to update branch {session.branch!r} after {schedule.max_attempts} attempts: "
            "others keep committing to it"
        )

    async def _attempt(self, session: LocalSession, message: str) -> str | object:
        assert session.branch is not None
        tips = await self.db.get_branches([session.branch])
        if tips and tips[0].commit_id != session.base_commit:
            return _RETRY
        new = NewCommit(
            session_id=session.id,
            session_start_time=session.start_time,
            parent_commit=session.base_commit,
            commit_time=utcnow(),
            author_name=self.author.name,
            author_email=self.author.email,
            message=message,
        )
        try:
            commit_id = await self.db.new_commit(new)
        except ArraylakeHttpError as exc:
            if _detail(exc).startswith(NO_CHANGES):
                warnings.warn("No changes to commit", UserWarning, stacklevel=3)
                return _NoChanges()
            raise
        update = UpdateBranchBody(
            branch=session.branch,
            new_commit=commit_id,
            new_branch=session.base_commit is None or not tips,
            base_commit=session.base_commit,
            session_id=session.id,
        )
        try:
            await self.db.update_branch(update)
        except ArraylakeHttpError as exc:
            if _detail(exc).startswith(LOST_RACE):
                return _RETRY
            raise
        return commit_id

    async def _rebase(self, session: LocalSession) -> None:
        assert session.branch is not None
        try:
            tip = await self.db.rebase(session.id, session.branch, session.base_commit)
        except ArraylakeHttpError as exc:
            if not _detail(exc).startswith(NO_BRANCH):
                raise CommitFailedError(f"cannot commit: {_detail(exc)}") from exc
            return
        session.base_commit = tip

    async def _after_commit(self, session: LocalSession, commit_id: str, for_writing: bool) -> None:
        assert session.branch is not None
        self._session = await self.create_session(session.branch, for_writing, lifetime_left(session))
        if self._session.base_commit != commit_id:
            warnings.warn(
                f"branch {session.branch!r} moved past commit {commit_id} already", UserWarning, stacklevel=3
            )

    async def fast_forward(self) -> None:
        """Move the session's base to its branch tip, unless commits since wrote paths this session wrote."""
        session = self.session
        if session.branch is None:
            raise RuntimeError("not on a branch tip: nothing to fast-forward")
        tips = await self.db.get_branches([session.branch])
        tip = tips[0].commit_id if tips else None
        if tip is None or tip == session.base_commit:
            return
        if session.session_type == "write" and await self._modified(limit=1):
            session.base_commit = await self.db.rebase(session.id, session.branch, session.base_commit)
            return
        session.base_commit = tip

    # ----------------------------------------------------------------------------------- branches and tags

    async def new_branch(self, name: str) -> None:
        """Name the session's branch ``name``; the branch is created by the next commit."""
        session = self.session
        if name == session.branch:
            raise ValueError(f"already on branch {name!r}")
        if await self.db.get_branches([name]) or await self.db.get_tags([name]):
            raise ValueError(f"a branch or tag named {name!r} exists already")
        session.branch = name

    async def delete_branch(self, name: str) -> None:
        """Delete a branch (its commits stay, reachable from tags and other branches)."""
        await self.db.delete_branch(name)

    async def tag(self, tag_name: str, commit_id: str | None = None, *, message: str | None = None) -> Tag:
        """Tag a commit (or ref; default: the session's base commit)."""
        session = self.session
        if tag_name == session.branch:
            raise ValueError(f"{tag_name!r} is the current branch")
        if commit_id is None:
            commit_id = session.base_commit
        elif not is_object_id(commit_id):
            commit_id, _ = await self.get_ref(commit_id)
        if commit_id is None:
            raise ValueError("there is no commit to tag yet")
        return await self.db.new_tag(
            NewTag(
                label=tag_name,
                commit_id=commit_id,
                message=message,
                author_name=self.author.name,
                author_email=self.author.email,
            )
        )

    async def delete_tag(self, tag_name: str) -> None:
        """Delete a tag."""
        await self.db.delete_tag(tag_name)

    async def branches(self) -> list[Any]:
        """The repo's branches."""
        return list(await self.db.get_branches())

    async def tags(self) -> list[Tag]:
        """The repo's tags."""
        return await self.db.get_tags()

    async def commit_log(self) -> CommitLog:
        """The commits from the session's base back to the first, newest first."""
        commits, tags, branches = await asyncio.gather(
            self.db.all_commits(), self.db.get_tags(), self.db.get_branches()
        )
        data = CommitData(
            commits={c.id: c for c in commits},
            tags={t.label: t.commit.id for t in tags},
            branches={b.id: b.commit_id for b in branches},
        )
        return CommitLog(self.repo_name, self.session.base_commit, data)

    async def status(self, limit: int = 1000) -> SessionStatus:
        """The paths this session changed (``limit=0``: all of them)."""
        changed = await self._modified(limit)
        if limit and len(changed) >= limit:
            warnings.warn(f"showing only the first {limit} changed paths", UserWarning, stacklevel=2)
        return SessionStatus(repo_name=self.repo_name, session=self.session, modified_paths=changed)

    # ---------------------------------------------------------------------------------- zarr and xarray

    @property
    def store(self) -> V1Store:
        """The session as a zarr-python 3 store (writable in a write session on a branch)."""
        from arraylake.repos.v1.store import V1Store

        return V1Store(self)

    async def root_group(self) -> zarr.AsyncGroup:
        """The root group, opened for writing in a write session."""
        import zarr.api.asynchronous as zarr_async

        mode: Literal["a", "r"] = "a" if self.session.writable else "r"
        return await zarr_async.open_group(store=self.store, mode=mode, zarr_format=3)

    async def to_xarray(self, group: str | None = None, **kwargs: Any) -> xr.Dataset:
        """Open a group as an ``xarray.Dataset`` (keyword arguments go to ``xarray.open_dataset``)."""
        return await asyncio.to_thread(open_xarray, self.store, group, kwargs)

    async def tree(self, prefix: str = "", *, depth: int = 10, filter: str | None = None) -> Tree:
        """The hierarchy under ``prefix``: groups, arrays (shape, dtype) and attributes."""
        if not prefix.startswith("meta/"):
            prefix = "meta/root/" + prefix.strip("/") if prefix.strip("/") else "meta/root"
        answer = await self.db.tree(prefix, *self._where(), depth=depth, filter=filter)
        return Tree(answer)

    async def filter_metadata(self, jmespath: str) -> list[str]:
        """Paths of the groups and arrays whose metadata documents match a JMESPath expression."""
        paths = await self._list("meta/", all_subdirs=True, filter=jmespath)
        nodes = []
        for path in paths:
            path = path.removesuffix(".array.json").removesuffix(".group.json")
            nodes.append(path.removeprefix("meta/root/").removeprefix("meta/root"))
        return nodes

    async def ping(self) -> None:
        """Check that the bucket answers."""
        await self.chunkstore.ping()

    def close(self) -> None:
        """Does nothing (kept for compatibility)."""
        warnings.warn("close() is deprecated and does nothing", DeprecationWarning, stacklevel=2)


class _NoChanges:
    pass


_RETRY = object()


def open_xarray(store: Any, group: str | None, kwargs: dict[str, Any]) -> xr.Dataset:
    """``xarray.open_dataset`` on a V1 store."""
    import xarray as xr

    refused = {"zarr_version", "zarr_format", "engine"} & kwargs.keys()
    if refused:
        raise ValueError(f"to_xarray sets {', '.join(sorted(refused))} itself")
    kwargs.setdefault("consolidated", False)
    return xr.open_dataset(store, group=group, engine="zarr", zarr_format=3, **kwargs)
