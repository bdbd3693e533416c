"""Rendering the web app's pages: its templates, their filters, and the headers every page carries."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from arraylake import __version__
from arraylake.server.web.headers import app_page_policy
from arraylake.types import utcnow

if TYPE_CHECKING:
    from arraylake.server.web.viewer import Viewer

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")
STATIC_URL = "/app/static"
templates = Jinja2Templates(directory=TEMPLATES)


def when(moment: datetime | None) -> str:
    """A moment as people read it in a table: ``2026-12-02 09:30 UTC``."""
    if moment is None:
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def ago(moment: datetime | None) -> str:
    """How long ago (or from now), roughly: ``5 minutes ago``, ``in 3 days``."""
    if moment is None:
        return "—"
    seconds = (utcnow() - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in a moment" if future else "just now"


def size(count: int | None) -> str:
    """A number of bytes in binary units: ``1.5 GiB``."""
    if count is None:
        return "—"
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def static_url(name: str) -> str:
    """The URL of a static file, versioned so that an upgrade is never served from a stale cache."""
    return f"{STATIC_URL}/{name}?v={__version__}"


templates.env.filters.update(when=when, ago=ago, size=size)
templates.env.globals.update(static_url=static_url)


def wants_html(accept: str | None) -> bool:
    """Whether a request's ``Accept`` header asks for a web page first (a browser), not JSON (a client)."""
    if not accept:
        return False
    best: tuple[float, str] | None = None
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.strip().lower()
        if media in ("text/html", "application/json") and (best is None or quality > best[0]):
            best = (quality, media)
    return best is not None and best[1] == "text/html" and best[0] > 0


def is_htmx(request: Request) -> bool:
    """Whether htmx asks for this page (to swap part of it), not the browser for a whole page."""
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page (or an htmx fragment) of the web app, with its CSP nonce, never cached.

    Templates get ``viewer`` (``None`` for a visitor who is not signed in), ``csrf`` (the token every
    mutating form carries), ``csp_nonce`` and ``flash`` (the message of :func:`redirect_with_message`, shown
    once) besides ``context``.
    """
    nonce = secrets.token_urlsafe(16)
    flash = _take_flash(request, viewer)
    values = {
        "viewer": viewer,
        "csrf": viewer.csrf if viewer else "",
        "csp_nonce": nonce,
        "flash": flash,
        **context,
    }
    response = templates.TemplateResponse(request, template, values, status_code=status, headers=headers)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/app")
    response.headers["cache-control"] = "no-store"
    response.headers["content-security-policy"] = app_page_policy(nonce)
    response.headers["vary"] = "HX-Request"
    return response


FLASH_COOKIE = "arraylake_flash"
FLASH_SECONDS = 60
FLASH_AUDIENCE = "arraylake-flash"


def redirect_with_message(viewer: Viewer, url: str, message: str, *, tone: str = "ok") -> RedirectResponse:
    """After a form did its work: back to a page (``url``, same site) that shows ``message`` once.

    The message rides in a short-lived signed cookie, not in the URL, so that no link can put words in
    the service's mouth. Never put a secret in it: a token shown once is rendered in the form's answer.
    """
    response = RedirectResponse(url, status_code=303)
    claims = {"sub": "flash", "aud": FLASH_AUDIENCE, "use": "flash", "text": message, "tone": tone}
    response.set_cookie(
        FLASH_COOKIE,
        viewer.ctx.signer.issue(claims, FLASH_SECONDS),
        max_age=FLASH_SECONDS,
        httponly=True,
        samesite="lax",
        path="/app",
    )
    return response


def _take_flash(request: Request, viewer: Viewer | None) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or viewer is None:
        return None
    claims = viewer.ctx.signer.verify(raw, audience=FLASH_AUDIENCE, use="flash")
    if claims is None or not isinstance(claims.get("text"), str):
        return None
    tone = claims.get("tone") if claims.get("tone") in ("ok", "error") else "ok"
    return {"text": claims["text"], "tone": str(tone)}
