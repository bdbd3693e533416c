"""Login for clients: the OAuth 2.0 device authorization grant (RFC 8628) served by the service itself.

``GET /auth/config?target=client`` says where to go (the hosted dialect's ``domain`` and ``client_id``, plus
full endpoint URLs so that plain ``http`` works on localhost); ``POST /oauth/device/code`` starts a login;
the user approves it on ``/device``; ``POST /oauth/token`` delivers the tokens (device-code and
refresh-token grants); ``POST /oauth/revoke`` ends a login (RFC 7009).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record
from arraylake.server.context import AppContext
from arraylake.server.db.schema import login_sessions
from arraylake.server.deps import Ctx, CurrentPrincipal
from arraylake.server.identity import device, sessions
from arraylake.server.identity.oauth_errors import OAuthError
from arraylake.server.identity.principals import user_info
from arraylake.server.identity.service import email_of, principal_by_id
from arraylake.server.web.urls import public_base
from arraylake.types import DeviceAuthorizationResponse, OAuthConfig, OAuthTokens, UserInfo

router = APIRouter(tags=["login"])

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def base_url(request: Request, ctx: AppContext) -> str:
    """The service's external base URL: ``PUBLIC_URL``, else the one this request came to."""
    return public_base(request, ctx.settings)


def _client(ctx: AppContext, client_id: str) -> str:
    if client_id not in ctx.settings.oauth_client_ids:
        raise OAuthError("invalid_client", f"unknown client_id {client_id!r}", status_code=401)
    return client_id


@router.get("/auth/config", response_model=OAuthConfig)
async def auth_config(
    request: Request,
    ctx: Ctx,
    target: str = Query(default="client", description="Who asks: 'client' (Python) or 'cli'"),
) -> OAuthConfig:
    """Where clients log in. No token needed."""
    base = base_url(request, ctx)
    parts = urlsplit(base)
    return OAuthConfig(
        domain=parts.netloc + parts.path,
        client_id=ctx.settings.oauth_client_ids[0],
        issuer=ctx.signer.issuer,
        device_authorization_endpoint=f"{base}/oauth/device/code",
        token_endpoint=f"{base}/oauth/token",
        revocation_endpoint=f"{base}/oauth/revoke",
    )


@router.post("/oauth/device/code", response_model=DeviceAuthorizationResponse)
async def device_authorization(
    request: Request,
    ctx: Ctx,
    client_id: str = Form(),
    scope: str = Form(default="openid profile email offline_access"),
) -> DeviceAuthorizationResponse:
    """Start a login: a device code for the client to poll with, a user code for the user to approve."""
    _client(ctx, client_id)
    settings = ctx.settings
    async with ctx.engine.begin() as conn:
        started = await device.start(
            conn,
            client_id,
            scope,
            lifetime=settings.device_code_seconds,
            interval=settings.device_poll_seconds,
            requested_from=request.client.host if request.client else None,
        )
    verification = f"{base_url(request, ctx)}/device"
    return DeviceAuthorizationResponse(
        device_code=started.device_code,
        user_code=started.user_code,
        verification_uri=verification,
        verification_uri_complete=f"{verification}?user_code={started.user_code}",
        expires_in=started.expires_in,
        interval=started.interval,
    )


async def _tokens(
    ctx: AppContext, principal_id: str, session_id: str, client_id: str, refresh: str
) -> OAuthTokens:
    async with ctx.reader.connect() as conn:
        principal = await principal_by_id(conn, principal_id)
    if principal is None:
        raise OAuthError("invalid_grant", "the account is disabled")
    claims: dict[str, Any] = {
        "sub": principal.id,
        "aud": client_id,
        "sid": session_id,
        "email": principal.email,
        "name": principal.author_name,
    }
    if principal.first_name:
        claims["given_name"] = principal.first_name
    if principal.family_name:
        claims["family_name"] = principal.family_name
    lifetime = ctx.settings.id_token_seconds
    return OAuthTokens(
        access_token=ctx.signer.issue({**claims, "use": "access"}, lifetime),
        id_token=ctx.signer.issue({**claims, "use": "id"}, lifetime),
        refresh_token=refresh,
        expires_in=lifetime,
    )


async def _refuse_reused(conn: AsyncConnection, session_id: str, client_id: str) -> None:
    """A used refresh token came back: end its login, and say so in the audit log."""
    principal_id = (
        await conn.execute(select(login_sessions.c.principal_id).where(login_sessions.c.id == session_id))
    ).scalar_one()
    await sessions.revoke_session(conn, session_id, reason="refresh token reused")
    await record(
        conn,
        "auth.sign_in",
        actor_id=principal_id,
        actor_name=await email_of(conn, principal_id),
        outcome="failed",
        details={"method": "refresh", "client_id": client_id, "reason": "refresh token reused"},
    )


@router.post("/oauth/token", response_model=OAuthTokens)
async def token(
    ctx: Ctx,
    grant_type: str = Form(),
    client_id: str = Form(),
    device_code: str | None = Form(default=None),
    refresh_token: str | None = Form(default=None),
) -> JSONResponse:
    """Tokens for an approved device code, or fresh tokens for a refresh token (which is replaced)."""
    _client(ctx, client_id)
    days = ctx.settings.login_session_days
    if grant_type == DEVICE_GRANT:
        if not device_code:
            raise OAuthError("invalid_request", "device_code is required")
        async with ctx.engine.begin() as conn:
            polled = await device.poll(conn, device_code, client_id)
        if isinstance(polled, OAuthError):
            raise polled
        principal_id = polled
        async with ctx.engine.begin() as conn:
            session_id, new_refresh = await sessions.start(conn, principal_id, client_id, days)
            await record(
                conn,
                "auth.sign_in",
                actor_id=principal_id,
                actor_name=await email_of(conn, principal_id),
                details={"method": "device", "client_id": client_id},
            )
    elif grant_type == "refresh_token":
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        try:
            async with ctx.engine.begin() as conn:
                session_id, principal_id, new_refresh = await sessions.rotate(
                    conn, refresh_token, client_id, days
                )
        except sessions.RefreshTokenReused as reused:
            async with ctx.engine.begin() as conn:
                await _refuse_reused(conn, reused.session_id, client_id)
            raise
    else:
        raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    tokens = await _tokens(ctx, principal_id, session_id, client_id, new_refresh)
    return JSONResponse(tokens.model_dump(mode="json"), headers=NO_STORE)


@router.post("/oauth/revoke")
async def revoke(
    ctx: Ctx,
    token: str = Form(),
    token_type_hint: str | None = Form(default=None),
) -> JSONResponse:
    """End the login a refresh token belongs to (RFC 7009: the answer is 200 whether or not it was known)."""
    async with ctx.engine.begin() as conn:
        await sessions.revoke_by_refresh_token(conn, token)
    return JSONResponse({}, headers=NO_STORE)


@router.get("/v2/logout")
async def hosted_logout() -> JSONResponse:
    """The hosted dialect's logout; logins end through ``/oauth/revoke``, which clients call first."""
    return JSONResponse({})


@router.post("/auth/update-user", response_model=UserInfo)
async def update_user(principal: CurrentPrincipal) -> UserInfo:
    """Called by clients after a login: the signed-in user."""
    return user_info(principal)


@router.get("/.well-known/jwks.json")
async def jwks(ctx: Ctx) -> dict[str, Any]:
    """The public key that verifies the service's login tokens."""
    return ctx.signer.jwks()


@router.get("/.well-known/openid-configuration")
async def openid_configuration(request: Request, ctx: Ctx) -> dict[str, Any]:
    base = base_url(request, ctx)
    return {
        "issuer": ctx.signer.issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "device_authorization_endpoint": f"{base}/oauth/device/code",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "grant_types_supported": [DEVICE_GRANT, "refresh_token"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "subject_types_supported": ["public"],
    }
