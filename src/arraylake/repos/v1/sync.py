"""``Repo``: the synchronous face of :class:`~arraylake.repos.v1.repo.AsyncRepo`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from arraylake.client.io_loop import run_sync
from arraylake.repos.v1.chunkstore import Chunkstore
from arraylake.repos.v1.metastore import Metastore
from arraylake.repos.v1.render import CommitLog, SessionStatus, Tree
from arraylake.repos.v1.repo import DEFAULT_IS_WRITE_SESSION, AsyncRepo, open_xarray
from arraylake.repos.v1.sessions import DEFAULT_SESSION_TIMEOUT, Author, LocalSession
from arraylake.types.v1 import Branch, SessionInfo, Tag

if TYPE_CHECKING:
    import xarray as xr
    import zarr

    from arraylake.repos.v1.store import V1Store


class Repo:
    """A V1 repo: every :class:`AsyncRepo` method, run to completion on a background event loop.

    Args:
        arepo: The asyncio repo to drive.
    """

    def __init__(self, arepo: AsyncRepo):
        self._arepo = arepo

    @classmethod
    def from_metastore_and_chunkstore(
        cls, metastore_db: Metastore, chunkstore: Chunkstore, name: str, author: Author
    ) -> Repo:
        """A repo checked out at ``main``."""
        repo = cls(AsyncRepo(metastore_db, chunkstore, name, author))
        repo.checkout()
        return repo

    def __repr__(self) -> str:
        return repr(self._arepo).replace("AsyncRepo", "Repo", 1)

    def __getstate__(self) -> dict[str, Any]:
        return {"arepo": self._arepo}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._arepo = state["arepo"]

    @property
    def repo_name(self) -> str:
        return self._arepo.repo_name

    @property
    def session(self) -> LocalSession:
        """The current session."""
        return self._arepo.session

    def checkout(
        self,
        ref: str | None = "main",
        session_token: str | None = None,
        for_writing: bool = DEFAULT_IS_WRITE_SESSION,
        expires_in: timedelta = DEFAULT_SESSION_TIMEOUT,
    ) -> str | None:
        return run_sync(self._arepo.checkout(ref, session_token, for_writing, expires_in))

    def create_session(
        self,
        ref: str | None = "main",
        for_writing: bool = DEFAULT_IS_WRITE_SESSION,
        expires_in: timedelta = DEFAULT_SESSION_TIMEOUT,
        message: str | None = None,
    ) -> LocalSession:
        return run_sync(self._arepo.create_session(ref, for_writing, expires_in, message))

    def join_session(self, session_id: str) -> LocalSession:
        return run_sync(self._arepo.join_session(session_id))

    def list_active_sessions(self) -> list[SessionInfo]:
        return run_sync(self._arepo.list_active_sessions())

    def commit(
        self, message: str, auto_ff: bool = True, checkout_for_writing: bool = DEFAULT_IS_WRITE_SESSION
    ) -> str | None:
        return run_sync(self._arepo.commit(message, auto_ff, checkout_for_writing))

    def fast_forward(self) -> None:
        run_sync(self._arepo.fast_forward())

    def new_branch(self, name: str) -> None:
        run_sync(self._arepo.new_branch(name))

    def delete_branch(self, name: str) -> None:
        run_sync(self._arepo.delete_branch(name))

    def tag(self, tag_name: str, commit_id: str | None = None, *, message: str | None = None) -> Tag:
        return run_sync(self._arepo.tag(tag_name, commit_id, message=message))

    def delete_tag(self, tag_name: str) -> None:
        run_sync(self._arepo.delete_tag(tag_name))

    @property
    def branches(self) -> list[Branch]:
        """The repo's branches."""
        return run_sync(self._arepo.branches())

    @property
    def tags(self) -> list[Tag]:
        """The repo's tags."""
        return run_sync(self._arepo.tags())

    @property
    def commit_log(self) -> CommitLog:
        """The commits from the session's base back to the first, newest first."""
        return run_sync(self._arepo.commit_log())

    def status(self, limit: int = 1000) -> SessionStatus:
        return run_sync(self._arepo.status(limit))

    def tree(self, prefix: str = "", *, depth: int = 10, filter: str | None = None) -> Tree:
        return run_sync(self._arepo.tree(prefix, depth=depth, filter=filter))

    def filter_metadata(self, jmespath: str) -> list[str]:
        return run_sync(self._arepo.filter_metadata(jmespath))

    @property
    def store(self) -> V1Store:
        """The session as a zarr-python 3 store (writable in a write session on a branch)."""
        return self._arepo.store

    @property
    def root_group(self) -> zarr.Group:
        """The root group, opened for writing in a write session."""
        import zarr

        mode: Literal["a", "r"] = "a" if self.session.writable else "r"
        return zarr.open_group(store=self.store, mode=mode, zarr_format=3)

    def to_xarray(self, group: str | None = None, **kwargs: Any) -> xr.Dataset:
        """Open a group as an ``xarray.Dataset`` (keyword arguments go to ``xarray.open_dataset``)."""
        return open_xarray(self.store, group, kwargs)

    def ping(self) -> None:
        run_sync(self._arepo.ping())

    def close(self) -> None:
        """Does nothing (kept for compatibility)."""
        self._arepo.close()

    # The low-level document and chunk API, for export and tooling.
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") and not name.startswith("__") and name != "_arepo":
            method = getattr(self._arepo, name)
            if callable(method):
                return lambda *args, **kwargs: run_sync(method(*args, **kwargs))
        raise AttributeError(name)


for _name in (
    "checkout",
    "create_session",
    "join_session",
    "list_active_sessions",
    "commit",
    "fast_forward",
    "new_branch",
    "delete_branch",
    "tag",
    "delete_tag",
    "status",
    "tree",
    "filter_metadata",
    "ping",
):
    getattr(Repo, _name).__doc__ = getattr(AsyncRepo, _name).__doc__
