"""Login sessions and their rotating refresh tokens.

Each device-flow login is a session; its tokens carry the session id (``sid``), so revoking the session
(logout) ends the login everywhere at once. A refresh token is good for one use: using it returns a new one;
presenting a used one again ends the session, since only a stolen copy would do that.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.db.schema import login_sessions, principals, refresh_tokens
from arraylake.server.identity.oauth_errors import OAuthError
from arraylake.server.identity.tokens import hash_token
from arraylake.types import utcnow


class RefreshTokenReused(OAuthError):
    """A used refresh token came back: its session must end (in a transaction of its own)."""

    def __init__(self, session_id: str):
        super().__init__("invalid_grant", "refresh token already used; the login was ended as a precaution")
        self.session_id = session_id


def _new_refresh_token() -> str:
    return "rt_" + secrets.token_urlsafe(32)


async def start(conn: AsyncConnection, principal_id: str, client_id: str, days: float) -> tuple[str, str]:
    """Open a session; return (session id, first refresh token)."""
    session_id = str(uuid.uuid4())
    now = utcnow()
    await conn.execute(
        insert(login_sessions).values(
            id=session_id,
            principal_id=principal_id,
            client_id=client_id,
            created=now,
            expires_at=now + timedelta(days=days),
        )
    )
    token = _new_refresh_token()
    await conn.execute(
        insert(refresh_tokens).values(token_hash=hash_token(token), session_id=session_id, created=now)
    )
    return session_id, token


async def rotate(conn: AsyncConnection, token: str, client_id: str, days: float) -> tuple[str, str, str]:
    """Exchange a refresh token for a new one; return (session id, principal id, new refresh token)."""
    now = utcnow()
    row = (
        await conn.execute(
            select(
                refresh_tokens.c.used_at,
                login_sessions.c.id,
                login_sessions.c.principal_id,
                login_sessions.c.client_id,
                login_sessions.c.expires_at,
                login_sessions.c.revoked_at,
            )
            .join(login_sessions, login_sessions.c.id == refresh_tokens.c.session_id)
            .where(refresh_tokens.c.token_hash == hash_token(token))
        )
    ).one_or_none()
    if row is None or row.client_id != client_id:
        raise OAuthError("invalid_grant", "unknown refresh token")
    if row.revoked_at is not None or row.expires_at <= now:
        raise OAuthError("invalid_grant", "this login has ended; log in again")
    if row.used_at is not None:
        raise RefreshTokenReused(row.id)
    used = await conn.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == hash_token(token), refresh_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    if used.rowcount != 1:  # a concurrent refresh won the race
        raise OAuthError("invalid_grant", "refresh token already used")
    new_token = _new_refresh_token()
    await conn.execute(
        insert(refresh_tokens).values(token_hash=hash_token(new_token), session_id=row.id, created=now)
    )
    await conn.execute(
        update(login_sessions)
        .where(login_sessions.c.id == row.id)
        .values(expires_at=now + timedelta(days=days))
    )
    return row.id, row.principal_id, new_token


async def revoke_session(conn: AsyncConnection, session_id: str, *, reason: str) -> bool:
    """End a login session (audited as ``auth.session_revoke``); ``False`` if it had already ended."""
    row = (
        await conn.execute(
            select(login_sessions.c.principal_id, login_sessions.c.client_id, principals.c.email)
            .join(principals, principals.c.id == login_sessions.c.principal_id)
            .where(login_sessions.c.id == session_id)
        )
    ).one_or_none()
    ended = await conn.execute(
        update(login_sessions)
        .where(login_sessions.c.id == session_id, login_sessions.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    if row is None or ended.rowcount != 1:
        return False
    await record(
        conn,
        "auth.session_revoke",
        actor_id=row.principal_id,
        actor_name=row.email,
        details={"client_id": row.client_id, "reason": reason},
    )
    return True


async def revoke_by_refresh_token(conn: AsyncConnection, token: str) -> bool:
    """End the session a refresh token belongs to; ``False`` if the token is unknown."""
    session_id = (
        await conn.execute(
            select(refresh_tokens.c.session_id).where(refresh_tokens.c.token_hash == hash_token(token))
        )
    ).scalar_one_or_none()
    if session_id is None:
        return False
    await revoke_session(conn, session_id, reason="revoked by the client")
    return True


async def is_active(conn: AsyncConnection, session_id: str) -> bool:
    row = (
        await conn.execute(
            select(login_sessions.c.expires_at, login_sessions.c.revoked_at).where(
                login_sessions.c.id == session_id
            )
        )
    ).one_or_none()
    return row is not None and row.revoked_at is None and row.expires_at > utcnow()
