"""The device authorization grant (RFC 8628): a client gets a device code and a short user code; the user
approves the user code on the service's web page; the client, polling, then receives its tokens."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.db.schema import device_codes
from arraylake.server.identity.oauth_errors import OAuthError
from arraylake.server.identity.service import email_of
from arraylake.server.identity.tokens import hash_token
from arraylake.types import utcnow

# Consonants only (RFC 8628 section 6.1): no vowels means no words, and no 0/O or 1/I confusion.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
PENDING, APPROVED, DENIED, CONSUMED = "pending", "approved", "denied", "consumed"


@dataclass
class DeviceAuthorization:
    device_code: str
    user_code: str
    expires_in: int
    interval: int


def new_user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def normalize_user_code(text: str) -> str | None:
    """``bcdf ghjk`` or ``BCDF-GHJK`` -> ``BCDF-GHJK``; ``None`` if it cannot be a user code."""
    letters = re.sub(r"[\s\-]", "", text or "").upper()
    if len(letters) != 8 or any(c not in USER_CODE_ALPHABET for c in letters):
        return None
    return f"{letters[:4]}-{letters[4:]}"


async def start(
    conn: AsyncConnection,
    client_id: str,
    scope: str,
    *,
    lifetime: int,
    interval: int,
    requested_from: str | None = None,
) -> DeviceAuthorization:
    """A new device code; ``requested_from`` (the client's address) is shown to the approving user."""
    device_code = secrets.token_urlsafe(32)
    now = utcnow()
    for _ in range(5):  # user codes are short: retry on the rare collision
        user_code = new_user_code()
        clash = (
            await conn.execute(select(device_codes.c.user_code).where(device_codes.c.user_code == user_code))
        ).first()
        if clash is None:
            break
    await conn.execute(
        insert(device_codes).values(
            device_code_hash=hash_token(device_code),
            user_code=user_code,
            client_id=client_id,
            scope=scope[:256],
            created=now,
            expires_at=now + timedelta(seconds=lifetime),
            interval=interval,
            status=PENDING,
            requested_from=requested_from[:64] if requested_from else None,
        )
    )
    return DeviceAuthorization(device_code, user_code, lifetime, interval)


async def poll(conn: AsyncConnection, device_code: str, client_id: str) -> str | OAuthError:
    """One poll of the token endpoint: the approving principal's id, or the OAuth error to answer.

    Errors are returned, not raised, so that the poll's own bookkeeping (``last_polled_at``) is committed.
    """
    now = utcnow()
    row = (
        await conn.execute(
            select(device_codes).where(device_codes.c.device_code_hash == hash_token(device_code))
        )
    ).one_or_none()
    if row is None or row.client_id != client_id:
        return OAuthError("invalid_grant", "unknown device code")
    if row.status == CONSUMED:
        # Only a copy of the code comes back after its tokens were delivered.
        await _refused(conn, row.principal_id, client_id, "device code already used")
        return OAuthError("invalid_grant", "this device code has already been used")
    if row.expires_at <= now:
        return OAuthError("expired_token", "the device code has expired; start the login again")
    if row.status == DENIED:
        return OAuthError("access_denied", "the login was denied")
    if row.status == PENDING:
        too_soon = row.last_polled_at is not None and now - row.last_polled_at < timedelta(
            seconds=row.interval
        )
        await conn.execute(
            update(device_codes)
            .where(device_codes.c.device_code_hash == row.device_code_hash)
            .values(last_polled_at=now)
        )
        if too_soon:
            return OAuthError("slow_down", f"poll at most every {row.interval} seconds")
        return OAuthError("authorization_pending", "waiting for the user to approve the login")
    consumed = await conn.execute(
        update(device_codes)
        .where(device_codes.c.device_code_hash == row.device_code_hash, device_codes.c.status == APPROVED)
        .values(status=CONSUMED)
    )
    if consumed.rowcount != 1:
        return OAuthError("invalid_grant", "this device code has already been used")
    return row.principal_id


async def pending_by_user_code(conn: AsyncConnection, user_code: str) -> Row | None:
    """A device request awaiting a decision, if the code names one that is still valid."""
    row = (
        await conn.execute(select(device_codes).where(device_codes.c.user_code == user_code))
    ).one_or_none()
    if row is None or row.status != PENDING or row.expires_at <= utcnow():
        return None
    return row


async def decide(conn: AsyncConnection, user_code: str, principal_id: str, *, approve: bool) -> bool:
    """Approve or deny a pending request; ``False`` if it is no longer pending.

    A denial is audited as a refused sign-in; an approval is audited when its tokens are delivered.
    """
    result = await conn.execute(
        update(device_codes)
        .where(
            device_codes.c.user_code == user_code,
            device_codes.c.status == PENDING,
            device_codes.c.expires_at > utcnow(),
        )
        .values(status=APPROVED if approve else DENIED, principal_id=principal_id)
    )
    if result.rowcount != 1:
        return False
    if not approve:
        client_id = (
            await conn.execute(select(device_codes.c.client_id).where(device_codes.c.user_code == user_code))
        ).scalar_one()
        await _refused(conn, principal_id, client_id, "denied by the user")
    return True


async def _refused(conn: AsyncConnection, principal_id: str | None, client_id: str, reason: str) -> None:
    await record(
        conn,
        "auth.sign_in",
        actor_id=principal_id,
        actor_name=await email_of(conn, principal_id),
        outcome="failed",
        details={"method": "device", "client_id": client_id, "reason": reason},
    )
