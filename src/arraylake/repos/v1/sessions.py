"""Sessions as the client holds them: read sessions (local only) and server-managed write sessions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from arraylake.repos.v1.metastore import Metastore
from arraylake.types import utcnow
from arraylake.types.v1 import READ_SESSION_PREFIX, SessionInfo, SessionType

DEFAULT_SESSION_TIMEOUT = timedelta(days=1)


class Author(BaseModel):
    """Who commits: a user (``name`` and ``email``) or an API client (``email`` only)."""

    name: str | None = None
    email: str


class LocalSession(BaseModel):
    """The session a repo object reads and writes in: its id, branch and base commit."""

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    id: str = Field(alias="_id")
    db: Metastore = Field(exclude=True, repr=False)
    session_type: SessionType
    start_time: datetime
    branch: str | None = None
    base_commit: str | None = None
    author_name: str | None = None
    author_email: str

    @property
    def writable(self) -> bool:
        return self.session_type == SessionType.write and self.branch is not None


class LocalReadSession(LocalSession):
    """A read session: never sent to the service; reads name it ``read-<base commit>``."""

    session_type: SessionType = SessionType.read

    @classmethod
    def at(
        cls, db: Metastore, branch: str | None, base_commit: str | None, author: Author
    ) -> LocalReadSession:
        return cls(
            _id=f"{READ_SESSION_PREFIX}{base_commit}",
            db=db,
            start_time=utcnow(),
            branch=branch,
            base_commit=base_commit,
            author_name=author.name,
            author_email=author.email,
        )


class LocalWriteSession(LocalSession):
    """A server-managed write session; every process that joins it writes into the same session."""

    session_type: SessionType = SessionType.write
    expiration: datetime
    message: str | None = None

    @classmethod
    def from_info(cls, db: Metastore, info: SessionInfo) -> LocalWriteSession:
        return cls(
            _id=info.id,
            db=db,
            start_time=info.start_time,
            branch=info.branch,
            base_commit=info.base_commit,
            author_name=info.author_name,
            author_email=info.author_email,
            expiration=info.expiration,
            message=info.message,
        )

    async def update_expiration(self, expires_in: timedelta) -> None:
        """Let the session live ``expires_in`` from now (at most 7 days)."""
        info = await self.db.update_session_expiration(self.id, expires_in)
        self.expiration = info.expiration

    async def abandon(self) -> None:
        """End the session now: its writes are discarded and further writes fail."""
        info = await self.db.expire_session(self.id)
        self.expiration = info.expiration


def lifetime_left(session: LocalSession) -> timedelta:
    """A session's whole lifetime, for the session that follows it after a commit."""
    if isinstance(session, LocalWriteSession):
        return max(session.expiration - session.start_time, timedelta(seconds=1))
    return DEFAULT_SESSION_TIMEOUT


def session_summary(session: LocalSession) -> dict[str, Any]:
    return session.model_dump(mode="json", by_alias=False)
