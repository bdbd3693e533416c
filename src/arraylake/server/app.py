"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException

from arraylake._version import __version__
from arraylake.server import metrics
from arraylake.server.audit.router import router as audit_router
from arraylake.server.buckets.router import router as buckets_router
from arraylake.server.buckets.service import BucketCodec
from arraylake.server.catalog_cache import CatalogCache, invalidate_on_commit
from arraylake.server.compute.proxy import router as compute_proxy_router
from arraylake.server.compute.router import router as compute_router
from arraylake.server.compute.supervisor import supervise
from arraylake.server.context import AppContext
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.credentials.virtual import ContainerCredentials
from arraylake.server.db.engine import make_engine, read_engine
from arraylake.server.db.migrate import check_schema
from arraylake.server.db.outages import is_unavailable
from arraylake.server.docs import router as docs_router
from arraylake.server.errors import ServiceError, error_response
from arraylake.server.health import router as health_router
from arraylake.server.identity.auth import TokenCache
from arraylake.server.identity.oauth_errors import OAuthError
from arraylake.server.identity.oauth_router import router as oauth_router
from arraylake.server.identity.router import router as identity_router
from arraylake.server.identity.signing import TokenSigner
from arraylake.server.logs import configure_logging, get_logger
from arraylake.server.maintenance.router import router as maintenance_router
from arraylake.server.maintenance.scheduler import run_scheduler
from arraylake.server.metrics_router import router as metrics_router
from arraylake.server.middleware import BodyLimitMiddleware, RequestContextMiddleware
from arraylake.server.orgs.api_clients_router import router as api_clients_router
from arraylake.server.orgs.router import router as orgs_router
from arraylake.server.orgs.router import user_router as user_orgs_router
from arraylake.server.repos.grants_router import router as grants_router
from arraylake.server.repos.page_anchors import SPACING, PageAnchors
from arraylake.server.repos.router import router as repos_router
from arraylake.server.sealing import SecretBox
from arraylake.server.settings import ServerSettings
from arraylake.server.v1.contents_router import router as v1_contents_router
from arraylake.server.v1.router import router as v1_router
from arraylake.server.web import app_router as web_app
from arraylake.server.web.app_router import router as web_app_router
from arraylake.server.web.headers import SecurityHeadersMiddleware
from arraylake.server.web.oidc import OidcProvider
from arraylake.server.web.rendering import wants_html
from arraylake.server.web.router import router as web_router
from arraylake.types import MAX_JSON_DEPTH, ServiceInfo

API_VERSION = "1"
POOL_SAMPLE_SECONDS = 5.0
log = get_logger("arraylake.server")


async def _sample_pool(engine: AsyncEngine, interval: float = POOL_SAMPLE_SECONDS) -> None:
    # Sampled, not counted on every checkout: the hot path stays free of it, and /metrics reads every worker.
    while True:
        metrics.sample_pool(engine.pool)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServerSettings = app.state.settings
    engine = make_engine(settings.resolved_database_url)
    try:
        await check_schema(engine)
        signer = TokenSigner.from_settings(settings)
        secrets = SecretBox.from_settings(settings)
        vendor = CredentialVendor(settings, engine)
        catalog = CatalogCache(settings.catalog_cache_seconds)
        codec = BucketCodec(settings, secrets)
        ctx = AppContext(
            settings=settings,
            engine=engine,
            tokens=TokenCache(engine, settings.token_cache_seconds, signer, settings.oauth_client_ids),
            secrets=secrets,
            codec=codec,
            signer=signer,
            vendor=vendor,
            containers=ContainerCredentials(codec, vendor, read_engine(engine), catalog),
            catalog=catalog,
            page_anchors=PageAnchors(settings.page_anchor_spacing or SPACING),
            oidc=OidcProvider(settings) if settings.oidc_enabled else None,
        )
    except BaseException:
        await engine.dispose()
        raise
    try:
        invalidate_on_commit(engine, [ctx.catalog, ctx.tokens])
        app.state.ctx = ctx
        ctx.spawn(run_scheduler(ctx))
        if settings.compute_supervise:
            ctx.spawn(supervise(settings, engine))
        if settings.metrics != "off":
            ctx.spawn(_sample_pool(engine))
        # What start-up made lives as long as the process: keep it out of the collector's full passes,
        # which otherwise stall every request in flight (tail latency).
        gc.collect()
        gc.freeze()
        log.info("service ready", version=__version__, database=engine.dialect.name, pid=os.getpid())
        yield
    finally:
        log.info("service stopping", pid=os.getpid())
        for task in list(ctx.background):
            task.cancel()
        await asyncio.gather(*ctx.background, return_exceptions=True)
        await engine.dispose()
        metrics.process_exiting()


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(request.scope, exc.status_code, exc.detail, exc.headers)

    @app.exception_handler(OAuthError)
    async def oauth_error(request: Request, exc: OAuthError) -> JSONResponse:
        body = {"error": exc.error, "error_description": exc.description}
        return JSONResponse(body, status_code=exc.status_code, headers={"cache-control": "no-store"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return error_response(request.scope, 422, errors)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            error = {
                "loc": ["body"],
                "msg": "JSON decode error: the body is not UTF-8",
                "type": "json_invalid",
            }
            return error_response(request.scope, 422, [error])
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
            error = {
                "loc": ["body"],
                "msg": f"JSON nested too deeply: at most {MAX_JSON_DEPTH} levels",
                "type": "json_invalid",
            }
            return error_response(request.scope, 422, [error])
        return error_response(request.scope, exc.status_code, exc.detail, getattr(exc, "headers", None))

    for kind in (sa_exc.DBAPIError, ConnectionError, TimeoutError, Exception):
        app.add_exception_handler(kind, _unexpected)  # type: ignore[arg-type]


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if is_unavailable(exc):
        log.warning("catalog database unavailable", error=type(exc).__name__)
        return error_response(
            request.scope, 503, "the catalog database is unavailable; retry shortly", {"retry-after": "1"}
        )
    log.error("unexpected error", exc_info=exc)
    return error_response(
        request.scope, 500, "internal error; the service log has the details under this request id"
    )


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """Build the ASGI application. ``settings`` default to ``ARRAYLAKE_SERVER_*`` environment variables."""
    settings = settings or ServerSettings()
    app = FastAPI(
        title="Arraylake",
        version=__version__,
        description="Catalog of version-controlled array repositories (Icechunk) in your own object storage.",
        lifespan=_lifespan,
        # The hosted dialect sends JSON bodies without a Content-Type; auth is by bearer token, not
        # cookies, so the CSRF concern behind strict checking does not arise on the API.
        strict_content_type=False,
        # Served by docs.py from the installed package: FastAPI's own pages load their files from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    _install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeadersMiddleware, public_url=settings.public_url)
    app.add_middleware(
        RequestContextMiddleware,
        on_error=_unexpected,
        observe=metrics.request_observer() if settings.metrics != "off" else None,
    )  # added last: outermost

    @app.get("/", response_model=ServiceInfo, tags=["meta"])
    async def service_info(request: Request) -> Any:
        """What this service is; no token needed. A browser (asking for HTML) is sent to the web app."""
        if wants_html(request.headers.get("accept")):
            return RedirectResponse("/app", status_code=303)
        return ServiceInfo(arraylake_api_version=API_VERSION, version=__version__)

    app.include_router(health_router)
    # Routes are matched in order: the API's hot paths (repo lookups, /open, credentials) come before the
    # web app's pages, the sign-in pages and the docs, whose paths none of them share.
    # Routes under /orgs/{org}/... that are not repos come first: /orgs/{org}/{repo} would match them.
    app.include_router(orgs_router)
    app.include_router(api_clients_router)
    app.include_router(buckets_router)
    app.include_router(grants_router)
    app.include_router(audit_router)
    app.include_router(maintenance_router)
    app.include_router(repos_router)
    app.include_router(v1_router)
    app.include_router(v1_contents_router)
    app.include_router(compute_router)
    app.include_router(compute_proxy_router)
    app.include_router(identity_router)
    app.include_router(user_orgs_router)
    app.include_router(oauth_router)
    app.include_router(metrics_router)
    app.include_router(docs_router)
    app.include_router(web_router)
    app.mount(web_app.MOUNT, web_app.static_files, name="app-static")  # ahead of the app's catch-all page
    app.include_router(web_app_router)
    return app


def create_app_from_env() -> FastAPI:
    """Entry point for ``uvicorn --factory`` (and each worker of ``arraylake server start``)."""
    settings = ServerSettings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
