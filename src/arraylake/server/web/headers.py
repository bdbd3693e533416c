"""Security headers on every response, and the Content-Security-Policy of the service's own pages."""

from __future__ import annotations

from typing import Any

HSTS = b"max-age=31536000"
_ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # the device page's URL carries a user code
    (b"x-frame-options", b"DENY"),  # no clickjacking of the approve button
]


def page_policy(nonce: str) -> str:
    """The CSP of a page: nothing but its own nonce'd style block and forms posting back to the service."""
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


def app_page_policy(nonce: str) -> str:
    """The CSP of the web app's pages: scripts and stylesheets only from the service's own static files
    (htmx), its nonce'd style block, images from the service; requests and forms only back to it."""
    return (
        f"default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


class SecurityHeadersMiddleware:
    """Adds nosniff, Referrer-Policy and X-Frame-Options to every response, and HSTS to those served over
    https (the request's scheme, after trusted proxies, or an https ``PUBLIC_URL``)."""

    def __init__(self, app: Any, public_url: str | None = None):
        self.app = app
        self.https_public = (public_url or "").lower().startswith("https://")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(_ALWAYS)
        if self.https_public or scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", HSTS))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in extra if name not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
