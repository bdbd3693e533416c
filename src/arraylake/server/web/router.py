"""Pages: sign in (``/login``), approve or deny a device login (``/device``), sign out (``/logout``)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake.server.audit.record import record, record_alone
from arraylake.server.context import AppContext
from arraylake.server.deps import Ctx
from arraylake.server.identity import device, throttle
from arraylake.server.identity.emails import login_key
from arraylake.server.identity.service import (
    check_password,
    email_of,
    principal_by_id,
    user_for_external_account,
)
from arraylake.server.logs import get_logger
from arraylake.server.web import session
from arraylake.server.web.headers import page_policy
from arraylake.server.web.oidc import OidcError
from arraylake.server.web.urls import is_https, public_base
from arraylake.types import utcnow

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
log = get_logger("arraylake.server.web")


def _page(
    request: Request, name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    response = templates.TemplateResponse(
        request, name, {**context, "csp_nonce": nonce}, status_code=status, headers=headers
    )
    response.headers["cache-control"] = "no-store"
    response.headers["content-security-policy"] = page_policy(nonce)
    return response


def _message(
    request: Request, heading: str, text: str, *, tone: str = "", status: int = 200, **extra: Any
) -> HTMLResponse:
    return _page(request, "message.html", status, heading=heading, text=text, tone=tone, **extra)


def _sign_in_page(
    request: Request,
    ctx: AppContext,
    next_path: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HTMLResponse:
    oidc = ctx.settings.oidc_display_name if ctx.settings.oidc_enabled else None
    # The token is made first and the cookie that holds it copied onto the page once it exists.
    holder = Response()
    csrf = session.login_csrf(request, holder, ctx.signer, secure=is_https(request, ctx.settings))
    page = _page(request, "login.html", status, headers, next=next_path, oidc_name=oidc, csrf=csrf, **extra)
    for name, value in holder.raw_headers:
        if name == b"set-cookie":
            page.raw_headers.append((name, value))
    return page


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, ctx: Ctx, next: str | None = Query(default=None)) -> HTMLResponse:
    return _sign_in_page(request, ctx, session.safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx,
    email: str = Form(),
    password: str = Form(),
    next: str = Form(default="/app"),
    csrf: str | None = Form(default=None),
) -> Response:
    """Check email and password; repeated failures make further attempts wait longer and longer
    (:mod:`arraylake.server.identity.throttle`)."""
    target = session.safe_next(next)
    if not session.login_csrf_ok(request, ctx.signer, csrf):
        error = "This form has expired or did not come from this site. Sign in again."
        return _sign_in_page(request, ctx, target, status=403, email=email, error=error)
    address = request.client.host if request.client else None
    settings = ctx.settings
    limits = throttle.Limits(
        address_allowed=settings.login_failures_allowed,
        account_allowed=settings.login_account_failures_allowed,
        maximum=settings.login_backoff_max_seconds,
    )
    account = login_key(email)
    try:
        attempt = await throttle.begin(ctx.engine, account, address, limits)
    except throttle.SignInThrottled as slow:
        log.warning("sign-in throttled", retry_after=slow.retry_after)
        return _sign_in_page(
            request,
            ctx,
            target,
            email=email,
            error=f"Too many failed sign-ins. Try again in {slow.retry_after} seconds.",
            status=429,
            headers={"retry-after": str(slow.retry_after)},
        )
    async with ctx.reader.connect() as conn:
        principal_id = await check_password(conn, account, password)
    if principal_id is None:  # the attempt was counted as a failure before the check
        log.info("sign-in failed")
        await _refused(ctx, "password", "wrong email or password", email)
        return _sign_in_page(request, ctx, target, email=email, error="Wrong email or password.", status=401)
    await attempt.succeeded(ctx.engine)
    log.info("signed in", principal=principal_id)
    response = RedirectResponse(target, status_code=303)
    await _start_session(
        response,
        request,
        ctx,
        principal_id,
        also=lambda conn: _signed_in(conn, principal_id, {"method": "password"}),
    )
    return response


async def _signed_in(conn: AsyncConnection, principal_id: str, details: dict[str, str]) -> None:
    await record(
        conn,
        "auth.sign_in",
        actor_id=principal_id,
        actor_name=await email_of(conn, principal_id),
        details=details,
    )


async def _refused(ctx: AppContext, method: str, reason: str, email: str | None = None) -> None:
    """Audit a refused sign-in: the address tried (never the password), the method and why."""
    await record_alone(
        ctx.engine,
        "auth.sign_in",
        outcome="failed",
        actor_name=email.strip()[:320] if email else None,
        details={"method": method, "reason": reason},
    )


async def _start_session(
    response: Response,
    request: Request,
    ctx: AppContext,
    principal_id: str,
    also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> None:
    await session.start(
        response,
        ctx.signer,
        ctx.engine,
        principal_id,
        ctx.settings.web_session_seconds,
        secure=is_https(request, ctx.settings),
        also=also,
    )


def _callback_url(request: Request, ctx: AppContext) -> str:
    return f"{public_base(request, ctx.settings)}/login/oidc/callback"


@router.get("/login/oidc")
async def login_oidc(request: Request, ctx: Ctx, next: str | None = Query(default=None)) -> Response:
    """Send the browser to the external sign-in provider."""
    if ctx.oidc is None:
        return _message(
            request, "Not available", "This service has no external sign-in.", tone="error", status=404
        )
    try:
        url, remembered = await ctx.oidc.authorization_url(_callback_url(request, ctx))
    except OidcError as exc:
        return _message(request, "Sign-in unavailable", str(exc), tone="error", status=502)
    response = RedirectResponse(url, status_code=302)
    session.remember_oidc(
        response,
        ctx.signer,
        {**remembered, "next": session.safe_next(next)},
        secure=is_https(request, ctx.settings),
    )
    return response


@router.get("/login/oidc/callback")
async def login_oidc_callback(
    request: Request,
    ctx: Ctx,
    code: str | None = Query(default=None),
    state: str | None = Query(default=None),
    error: str | None = Query(default=None),
) -> Response:
    """Back from the provider: check the state, verify the identity, sign the user in."""
    if ctx.oidc is None:
        return _message(
            request, "Not available", "This service has no external sign-in.", tone="error", status=404
        )
    remembered = session.recall_oidc(request, ctx.signer)
    if remembered is None or not state or state != remembered.get("state"):
        return _message(
            request, "Sign-in failed", "This sign-in link is stale. Start again.", tone="error", status=400
        )
    if error or not code:
        await _refused(ctx, "oidc", "the provider did not sign the user in")
        return _message(
            request, "Sign-in cancelled", "The provider did not sign you in.", tone="error", status=401
        )
    try:
        who = await ctx.oidc.identity(_callback_url(request, ctx), code, remembered)
    except OidcError as exc:
        log.warning("external sign-in refused", reason=str(exc))
        await _refused(ctx, "oidc", str(exc))
        return _message(request, "Sign-in failed", str(exc), tone="error", status=401)
    async with ctx.engine.begin() as conn:
        principal_id, account = await user_for_external_account(
            conn,
            subject=who.subject,
            email=who.email,
            first_name=who.first_name,
            family_name=who.family_name,
            create=ctx.settings.oidc_create_users,
        )
        # Recorded with the account's linking or creation, which it is the only record of.
        if principal_id is not None:
            await _signed_in(conn, principal_id, {"method": "oidc", "account": account})
    if principal_id is None:
        await _refused(ctx, "oidc", "no account for this address", who.email)
        text = f"There is no account for {who.email} on this service. Ask an administrator to create one."
        return _message(request, "No account", text, tone="error", status=403)
    log.info("signed in through OIDC", principal=principal_id)
    response = RedirectResponse(session.safe_next(remembered.get("next")), status_code=303)
    await _start_session(response, request, ctx, principal_id)
    response.delete_cookie(session.OIDC_COOKIE, path="/login/oidc")
    return response


@router.get("/logout", response_class=HTMLResponse)
async def logout_page(request: Request, ctx: Ctx) -> Response:
    """Ask before signing out: signing out is a form post, so that no link or image can do it."""
    web = await session.current(request, ctx.signer, ctx.reader)
    email = await _signed_in_email(ctx, web)
    if web is None or email is None:
        return RedirectResponse("/login", status_code=303)
    return _page(request, "logout.html", csrf=web.csrf, email=email)


@router.post("/logout")
async def logout(request: Request, ctx: Ctx, csrf: str | None = Form(default=None)) -> Response:
    """End the browser's sign-in on the service: its cookie, even a copy, signs nobody in afterwards."""
    web = await session.current(request, ctx.signer, ctx.reader)
    if web is not None and not web.csrf_ok(csrf):
        return _message(
            request, "Request refused", "This form has expired. Reload the page.", tone="error", status=403
        )
    response = RedirectResponse("/login", status_code=303)

    async def signed_out(conn: AsyncConnection) -> None:
        assert web is not None
        email = await email_of(conn, web.principal_id)
        await record(conn, "auth.sign_out", actor_id=web.principal_id, actor_name=email)

    await session.end(response, ctx.engine, web, also=signed_out)
    if web is not None:
        log.info("signed out", principal=web.principal_id)
    return response


async def _signed_in_email(ctx: AppContext, web: session.WebSession | None) -> str | None:
    if web is None:
        return None
    async with ctx.reader.connect() as conn:
        principal = await principal_by_id(conn, web.principal_id)
    return principal.email if principal is not None else None


@router.get("/device", response_class=HTMLResponse)
async def device_page(request: Request, ctx: Ctx, user_code: str | None = Query(default=None)) -> Response:
    """Ask for the user code (if not in the link), then for approval; sign in first if needed."""
    web = await session.current(request, ctx.signer, ctx.reader)
    email = await _signed_in_email(ctx, web)
    if web is None or email is None:
        here = "/device" + (f"?user_code={quote(user_code)}" if user_code else "")
        return RedirectResponse(f"/login?next={quote(here)}", status_code=303)
    if not user_code:
        return _page(request, "device_code.html", email=email, csrf=web.csrf)
    code = device.normalize_user_code(user_code)
    async with ctx.reader.connect() as conn:
        pending = await device.pending_by_user_code(conn, code) if code else None
    if pending is None:
        return _page(
            request,
            "device_code.html",
            status=404,
            email=email,
            csrf=web.csrf,
            error="That code is unknown, expired or already used. Check it, or start the login again.",
        )
    return _page(
        request,
        "device_confirm.html",
        user_code=code,
        csrf=web.csrf,
        email=email,
        client_id=pending.client_id,
        requested_from=pending.requested_from or "unknown",
        requested_at=_utc(pending.created),
        valid_for=_minutes(pending.expires_at),
    )


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _minutes(until: datetime) -> str:
    seconds = max(0, int((until - utcnow()).total_seconds()))
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


@router.post("/device")
async def device_decision(
    request: Request,
    ctx: Ctx,
    user_code: str = Form(),
    decision: str = Form(),
    csrf: str = Form(),
) -> Response:
    web = await session.current(request, ctx.signer, ctx.reader)
    if web is None:
        return RedirectResponse(f"/login?next={quote('/device?user_code=' + user_code)}", status_code=303)
    if not web.csrf_ok(csrf):
        return _message(
            request, "Request refused", "This form has expired. Reload the page.", tone="error", status=403
        )
    code = device.normalize_user_code(user_code)
    if decision not in ("approve", "deny") or code is None:
        return _message(request, "Request refused", "Unknown decision or code.", tone="error", status=422)
    approve = decision == "approve"
    async with ctx.engine.begin() as conn:
        done = await device.decide(conn, code, web.principal_id, approve=approve)
    if not done:
        return _message(
            request,
            "Code no longer valid",
            "That code expired or was already used. Start the login again.",
            tone="error",
            status=409,
        )
    log.info("device login decided", principal=web.principal_id, approved=approve)
    if approve:
        return _message(
            request, "Device connected", "You can close this window and return to your terminal.", tone="ok"
        )
    return _message(request, "Login denied", "The device was not connected.", tone="error")
