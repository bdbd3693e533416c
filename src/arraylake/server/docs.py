"""The API documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, with every file they load served by
the service itself: they work without internet, and a page can be held to a Content-Security-Policy that
allows nothing from elsewhere.

The Swagger UI and ReDoc files come from the ``fastapi-offline`` package (a dependency of the server extra).
"""

from __future__ import annotations

import secrets
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from arraylake.server.errors import NotFound

ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"}
ASSET_PREFIX = "/docs/assets"
router = APIRouter(include_in_schema=False)


def _asset_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def docs_policy(nonce: str) -> str:
    """The CSP of the documentation pages: scripts, styles, images and API calls from the service only.

    Inline styles: Swagger UI and ReDoc style their elements from script. ``blob:`` workers: ReDoc's search.
    """
    return (
        f"default-src 'none'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
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


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{_title(request)} API",
        redoc_js_url=f"{root}{ASSET_PREFIX}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSET_PREFIX}/favicon.png",
        with_google_fonts=False,
    )
    return _with_policy(page)


@router.get(ASSET_PREFIX + "/{name}")
async def asset(name: str) -> FileResponse:
    """A file of the documentation pages; they change only with the installed package."""
    if name not in ASSETS:
        raise NotFound(f"no documentation asset {name!r}")
    return FileResponse(_asset_dir() / name, headers={"cache-control": "public, max-age=86400"})
