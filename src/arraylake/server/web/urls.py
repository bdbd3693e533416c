"""The service's external address, for every absolute URL it hands out (login, OIDC, device verification)."""

from __future__ import annotations

from fastapi import Request

from arraylake.server.settings import ServerSettings


def public_base(request: Request, settings: ServerSettings) -> str:
    """``PUBLIC_URL`` when set, whatever Host header the request carries; else the URL the request came to
    (a service used only from this machine, or behind a proxy that sets the Host)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def is_https(request: Request, settings: ServerSettings) -> bool:
    """Whether browsers reach the service over https (directly, through a trusted proxy, or PUBLIC_URL)."""
    return request.url.scheme == "https" or (settings.public_url or "").lower().startswith("https://")
