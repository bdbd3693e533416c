"""Links in protocol responses, rewritten from the internal ``/datasets/{id}/...`` to the public URL.

Plugins build links (WMS capabilities, tilejson tile templates, EDR metadata) from the request they see,
which names the internal dataset path; clients that follow links (OWSLib's GetMap, QGIS, MapLibre) need
``{public base}/{org}/{repo}/{ref}/{group}/...`` instead.
"""

from __future__ import annotations

import re

from starlette.requests import Request

PUBLIC_BASE_HEADER = "X-Arraylake-Public-Base"
TEXT_MEDIA_TYPES = ("application/json", "application/xml", "text/", "application/vnd.ogc", "+json", "+xml")
DATA_MEDIA_TYPES = ("application/prs.coverage+json", "text/csv")
"""Text answers that are data, with no links in them (EDR coverages and tables, up to the response limit):
they stream through untouched."""


def public_base(configured: str | None, request: Request) -> str:
    """Base of the public data URLs: the configured public URL, else the one the service's proxy sends,
    else this request's own base URL."""
    base = configured or request.headers.get(PUBLIC_BASE_HEADER) or str(request.base_url)
    return base.rstrip("/")


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in DATA_MEDIA_TYPES:
        return False
    return any(media_type.startswith(t) if t.endswith("/") else (t in media_type) for t in TEXT_MEDIA_TYPES)


def link_pattern(internal_id: str) -> re.Pattern[bytes]:
    """Absolute (``http(s)://host[:port][/root]``) or root-relative internal dataset URLs of one id."""
    escaped = re.escape(f"/datasets/{internal_id}".encode())
    return re.compile(rb"(?:https?://[^/\s\"'<>]+)?" + escaped + rb"(?=[/?\"'<&\s]|$)")


def rewrite(body: bytes, internal_id: str, public_prefix: str, public_name: str) -> bytes:
    """``body`` with the internal dataset URLs of ``internal_id`` replaced by ``public_prefix`` (an
    absolute URL ending before the protocol suffix), and the bare id (plugins show it as the dataset's
    name or title) by ``public_name``."""
    if internal_id.encode() not in body:
        return body
    replacement = public_prefix.encode()
    body = link_pattern(internal_id).sub(lambda _: replacement, body)
    return body.replace(internal_id.encode(), public_name.encode())
