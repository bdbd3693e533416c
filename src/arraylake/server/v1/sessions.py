"""Write sessions: create, join, list, extend, abandon, and the guard every write passes first."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.db.schema import v1_commits, v1_documents, v1_sessions
from arraylake.server.errors import InvalidInput, NotFound
from arraylake.server.v1.views import commit_chain
from arraylake.types import utcnow
from arraylake.types.v1 import (
    READ_SESSION_PREFIX,
    NewSession,
    SessionExpirationUpdate,
    SessionInfo,
    SessionType,
    new_object_id,
)

s = v1_sessions.c


_INFO_FIELDS = ("branch", "base_commit", "author_name", "author_email", "message", "start_time", "expiration")


def session_info(row: Mapping[Any, Any]) -> SessionInfo:
    return SessionInfo(
        _id=row["id"], session_type=SessionType(row["session_type"]), **{k: row[k] for k in _INFO_FIELDS}
    )


async def create_session(conn: AsyncConnection, repo_id: str, new: NewSession) -> SessionInfo:
    """A new session at ``new.base_commit``, which must be a commit of the repo."""
    await commit_chain(conn, repo_id, new.base_commit)
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_object_id(),
        "repo_id": repo_id,
        "branch": new.branch,
        "base_commit": new.base_commit,
        "author_name": new.author_name,
        "author_email": new.author_email,
        "message": new.message,
        "session_type": new.session_type.value,
        "start_time": now,
        "expiration": now + new.expires_in,
    }
    await conn.execute(insert(v1_sessions).values(**row))
    return session_info(row)


async def session_row(conn: AsyncConnection, repo_id: str, session_id: str) -> Row:
    row = (await conn.execute(select(v1_sessions).where(s.repo_id == repo_id, s.id == session_id))).first()
    if row is None:
        raise NotFound(f"session {session_id[:64]!r} does not exist in this repo")
    return row


async def get_session(conn: AsyncConnection, repo_id: str, session_id: str) -> SessionInfo:
    return session_info((await session_row(conn, repo_id, session_id))._mapping)


async def list_active_sessions(conn: AsyncConnection, repo_id: str) -> list[SessionInfo]:
    """Sessions that still take writes, oldest first."""
    rows = await conn.execute(
        select(v1_sessions)
        .where(
            s.repo_id == repo_id,
            s.expiration > utcnow(),
            s.abandoned_at.is_(None),
            s.landed_commit.is_(None),
        )
        .order_by(s.start_time, s.seq)
    )
    return [session_info(row._mapping) for row in rows]


async def update_expiration(
    conn: AsyncConnection, repo_id: str, session_id: str, change: SessionExpirationUpdate
) -> SessionInfo:
    """Let an open session live ``change.expires_in`` from now."""
    if change.session_id != session_id:
        raise InvalidInput("the body's session_id differs from the session in the path")
    await writable_session(conn, repo_id, session_id, check_type=False)
    await conn.execute(
        update(v1_sessions).where(s.id == session_id).values(expiration=utcnow() + change.expires_in)
    )
    return await get_session(conn, repo_id, session_id)


async def abandon_session(conn: AsyncConnection, repo_id: str, session_id: str) -> SessionInfo:
    """Expire the session now. Its writes are discarded unless a commit was made of them."""
    now = utcnow()
    seq = (
        await conn.execute(
            update(v1_sessions)
            .where(s.repo_id == repo_id, s.id == session_id)
            .values(expiration=now, abandoned_at=func.coalesce(s.abandoned_at, now))
            .returning(s.seq)
        )
    ).scalar_one_or_none()
    if seq is None:
        raise NotFound(f"session {session_id[:64]!r} does not exist in this repo")
    committed = exists().where(v1_commits.c.session_seq == seq)
    if not (await conn.execute(select(committed))).scalar():
        await conn.execute(delete(v1_documents).where(v1_documents.c.session_seq == seq))
    return await get_session(conn, repo_id, session_id)


async def writable_session(
    conn: AsyncConnection, repo_id: str, session_id: str, *, check_type: bool = True
) -> int:
    """The seq of ``session_id`` if it takes writes now, else 4xx saying why.

    Run first in a write's transaction: the conditional update locks the session's row (PostgreSQL) or the
    database (SQLite) until the transaction ends, so no commit of the session can land in between.
    """
    if session_id.startswith(READ_SESSION_PREFIX):
        raise InvalidInput(f"session {session_id[:64]!r} is a read session: check out for writing to write")
    now = utcnow()
    guard = (
        update(v1_sessions)
        .where(
            s.repo_id == repo_id,
            s.id == session_id,
            s.abandoned_at.is_(None),
            s.landed_commit.is_(None),
            s.expiration > now,
        )
        .values(expiration=s.expiration)
        .returning(s.seq, s.session_type)
    )
    row = (await conn.execute(guard)).first()
    if row is not None and (row.session_type == SessionType.write or not check_type):
        return int(row.seq)
    raise _refusal(await session_row(conn, repo_id, session_id), now)


def _refusal(row: Row, now: datetime) -> InvalidInput:
    sid = row.id
    if row.session_type != SessionType.write:
        return InvalidInput(f"session {sid} is a read session and takes no writes")
    if row.abandoned_at is not None:
        return InvalidInput(f"session {sid} was abandoned: its writes were discarded")
    if row.landed_commit is not None:
        return InvalidInput(
            f"session {sid} was committed as {row.landed_commit} and takes no more writes: "
            "check out a new session"
        )
    return InvalidInput(f"session {sid} expired at {row.expiration.isoformat()}: check out a new session")
