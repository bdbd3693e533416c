"""Browser sign-in sessions: a signed, HttpOnly cookie naming a row of ``web_sessions``, plus a CSRF token.

The row is what makes a sign-in valid: signing out ends it, so a copy of the cookie kept after that signs
nobody in. Forms that change something carry a CSRF token in a hidden field; a page of another site cannot
read it, so it cannot forge those forms. The sign-in form, used before there is a session, gets its token
from a short-lived cookie of its own (:func:`login_csrf`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from arraylake.server.db.schema import web_sessions
from arraylake.server.identity.signing import TokenSigner
from arraylake.server.identity.tokens import hash_token
from arraylake.server.orgs.members import accept_invitations
from arraylake.types import utcnow

COOKIE = "arraylake_session"
AUDIENCE = "arraylake-web"


def _csrf_match(expected: str, offered: str | None) -> bool:
    return bool(offered) and hmac.compare_digest(expected.encode(), (offered or "").encode())


@dataclass(frozen=True)
class WebSession:
    principal_id: str
    csrf: str
    session_id: str

    def csrf_ok(self, offered: str | None) -> bool:
        return _csrf_match(self.csrf, offered)


async def current(request: Request, signer: TokenSigner, reader: AsyncEngine) -> WebSession | None:
    """The browser's sign-in, if its cookie is genuine and its session neither ended nor expired."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    claims = signer.verify(raw, audience=AUDIENCE, use="web")
    if claims is None or not isinstance(claims.get("csrf"), str) or not isinstance(claims.get("sid"), str):
        return None
    async with reader.connect() as conn:
        row = (
            await conn.execute(
                select(web_sessions.c.principal_id, web_sessions.c.expires_at, web_sessions.c.ended_at).where(
                    web_sessions.c.id_hash == hash_token(claims["sid"])
                )
            )
        ).one_or_none()
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    if row.principal_id != claims["sub"]:
        return None
    return WebSession(principal_id=row.principal_id, csrf=claims["csrf"], session_id=claims["sid"])


async def start(
    response: Response,
    signer: TokenSigner,
    engine: AsyncEngine,
    principal_id: str,
    lifetime: int,
    *,
    secure: bool,
    also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> None:
    """Sign the browser in: a new session row and the cookie that names it. ``also`` runs in the same
    transaction (the sign-in's audit entry)."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    async with engine.begin() as conn:
        # Housekeeping: this user's sign-ins that can no longer be used.
        await conn.execute(
            delete(web_sessions).where(
                web_sessions.c.principal_id == principal_id, web_sessions.c.expires_at <= now
            )
        )
        await conn.execute(
            insert(web_sessions).values(
                id_hash=hash_token(session_id),
                principal_id=principal_id,
                created=now,
                expires_at=now + timedelta(seconds=lifetime),
            )
        )
        await accept_invitations(conn, principal_id)
        if also is not None:
            await also(conn)
    claims = {
        "sub": principal_id,
        "aud": AUDIENCE,
        "use": "web",
        "sid": session_id,
        "csrf": secrets.token_urlsafe(24),
    }
    response.set_cookie(
        COOKIE,
        signer.issue(claims, lifetime),
        max_age=lifetime,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")


async def end(
    response: Response,
    engine: AsyncEngine,
    web: WebSession | None,
    also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> None:
    """Sign the browser out: end its session on the service, and ask the browser to drop the cookie.
    ``also`` runs in the same transaction (the sign-out's audit entry)."""
    if web is not None:
        async with engine.begin() as conn:
            await conn.execute(
                update(web_sessions)
                .where(
                    web_sessions.c.id_hash == hash_token(web.session_id), web_sessions.c.ended_at.is_(None)
                )
                .values(ended_at=utcnow())
            )
            if also is not None:
                await also(conn)
    response.delete_cookie(COOKIE, path="/")


def safe_next(target: str | None, default: str = "/app") -> str:
    """Only same-site paths: a sign-in link must not be able to send the user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


LOGIN_COOKIE = "arraylake_login"
LOGIN_AUDIENCE = "arraylake-login"
LOGIN_FORM_SECONDS = 3600


def login_csrf(request: Request, response: Response, signer: TokenSigner, *, secure: bool) -> str:
    """The CSRF token of the sign-in form: the one the browser's sign-in cookie holds, or a new one.

    Without it another site could sign a visitor in to the attacker's account (login CSRF): the visitor's
    next approval would connect their own terminal to that account, and their work would land there.
    """
    raw = request.cookies.get(LOGIN_COOKIE)
    claims = signer.verify(raw, audience=LOGIN_AUDIENCE, use="login") if raw else None
    if claims is not None and isinstance(claims.get("csrf"), str):
        return str(claims["csrf"])
    token = secrets.token_urlsafe(24)
    cookie = signer.issue(
        {"sub": "login", "aud": LOGIN_AUDIENCE, "use": "login", "csrf": token}, LOGIN_FORM_SECONDS
    )
    response.set_cookie(
        LOGIN_COOKIE,
        cookie,
        max_age=LOGIN_FORM_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/login",
    )
    return token


def login_csrf_ok(request: Request, signer: TokenSigner, offered: str | None) -> bool:
    """Whether the sign-in form came with the token of this browser's sign-in cookie."""
    raw = request.cookies.get(LOGIN_COOKIE)
    claims = signer.verify(raw, audience=LOGIN_AUDIENCE, use="login") if raw else None
    if claims is None or not isinstance(claims.get("csrf"), str):
        return False
    return _csrf_match(claims["csrf"], offered)


OIDC_COOKIE = "arraylake_oidc"
OIDC_AUDIENCE = "arraylake-oidc"
OIDC_SECONDS = 600


def remember_oidc(response: Response, signer: TokenSigner, data: dict[str, str], *, secure: bool) -> None:
    """Keep state, nonce, PKCE verifier and the way back while the browser is at the provider."""
    token = signer.issue({"sub": "oidc", "aud": OIDC_AUDIENCE, "use": "oidc", **data}, OIDC_SECONDS)
    response.set_cookie(
        OIDC_COOKIE,
        token,
        max_age=OIDC_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/login/oidc",
    )


def recall_oidc(request: Request, signer: TokenSigner) -> dict[str, str] | None:
    raw = request.cookies.get(OIDC_COOKIE)
    if not raw:
        return None
    claims = signer.verify(raw, audience=OIDC_AUDIENCE, use="oidc")
    if claims is None:
        return None
    return {k: str(claims[k]) for k in ("state", "nonce", "verifier", "next") if k in claims}
