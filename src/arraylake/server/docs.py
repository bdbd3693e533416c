"""The API documentation page, ``/docs`` (Swagger UI), with every file it loads served by the service
itself: it works without internet, under a Content-Security-Policy that allows nothing from elsewhere.

The Swagger UI files come from the ``fastapi-offline`` package (a dependency of the server extra). There is
no ``/redoc``: ReDoc's bundle fetches its logo from Redocly's CDN.
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from arraylake.server.errors import NotFound

ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
ASSET_PREFIX = "/docs/assets"
router = APIRouter(include_in_schema=False)


def _asset_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def docs_policy(nonce: str) -> str:
    """The CSP of the documentation pages: scripts, styles, images and API calls from the service only
    (inline styles: Swagger UI styles its elements from script)."""
    return (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )


def _with_policy(page: HTMLResponse) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    body = bytes(page.body).replace(b"<script>", f'<script nonce="{nonce}">'.encode())
    return HTMLResponse(body, headers={"content-security-policy": docs_policy(nonce)})


def _title(request: Request) -> str:
    app: FastAPI = request.app
    return app.title


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{_title(request)} API",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{ASSET_PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSET_PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSET_PREFIX}/favicon.png",
        # Swagger UI otherwise sends the schema's URL to an online validator and shows its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _with_policy(page)


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return _with_policy(get_swagger_ui_oauth2_redirect_html())


@router.get(ASSET_PREFIX + "/{name}")
async def asset(name: str) -> FileResponse:
    """A file of the documentation pages; they change only with the installed package."""
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}")
    return FileResponse(_asset_dir() / name, headers={"cache-control": "public, max-age=86400"})
