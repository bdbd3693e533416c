"""The data plane's front door: one ASGI app per deployment, serving every repo of its org over one
protocol.

A request for ``/{org}/{repo}/{ref}/{group...}/{suffix}/{path}`` is checked (the deployment's org, the
caller's credentials and read permission, through the service), its ref resolved to a snapshot, answered
304 when ``If-None-Match`` names the snapshot's ETag, else handed to the protocol's xpublish plugin as
``/datasets/{internal id}/{suffix}/{path}`` over the dataset of that snapshot and group. The answer gets
the snapshot's caching headers, and its links are rewritten to the public URL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from arraylake.dataplane import caching, links
from arraylake.dataplane.access import RepoAccess, caller_of, check_org
from arraylake.dataplane.datasets import ArraylakeDatasets, DatasetCache, DatasetKey
from arraylake.dataplane.discovery import discovery_router
from arraylake.dataplane.protocols import adjust_query, check_request_size, clean_body, protocol_plugin
from arraylake.dataplane.refs import resolve_ref
from arraylake.dataplane.routing import parse_data_path
from arraylake.dataplane.settings import DataPlaneSettings
from arraylake.types.compute import ServiceType

logger = logging.getLogger(__name__)

PLUGIN_CACHE_BYTES = 64 * 1024 * 1024
"""xpublish's own cache (Zarr metadata stores, encoded chunks) per process."""


DISTRIBUTED_PROTOCOLS = frozenset({ServiceType.DAP2, ServiceType.EDR})
"""The protocols whose queries can be heavy. Zarr chunks, map images and tiles are one chunk's work each,
computed in-process (xpublish-zarr encodes a chunk inside its own event loop, where a distributed
client's blocking gather hangs)."""


def configure_dask(settings: DataPlaneSettings) -> Any:
    """Dask's threaded scheduler with ``THREADS`` workers, or, for DAP2 and EDR, a client of
    ``DASK_SCHEDULER`` (whose workers then read the storage themselves: the pickled store carries its
    refreshing credentials)."""
    import dask

    dask.config.set(scheduler="threads", num_workers=settings.threads)
    if settings.dask_scheduler and settings.protocol in DISTRIBUTED_PROTOCOLS:
        import distributed

        return distributed.Client(settings.dask_scheduler, set_as_default=True)
    return None


def create_app(settings: DataPlaneSettings) -> FastAPI:
    """The ASGI app of one deployment."""
    from xpublish import Rest

    cache = DatasetCache(settings.store_cache_size)
    access = RepoAccess(settings.service_url, settings.store_cache_ttl)
    plugins = {
        "arraylake-datasets": ArraylakeDatasets(cache),
        settings.protocol.value: protocol_plugin(settings.protocol, settings.limits),
    }
    inner = Rest({}, plugins=plugins, cache_kws={"available_bytes": PLUGIN_CACHE_BYTES}).app

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        dask_client = await run_in_threadpool(configure_dask, settings)
        logger.info(
            "serving %s of org %s (deployment %s, %s)",
            settings.protocol.value,
            settings.org,
            settings.deployment,
            "PUBLIC: anonymous requests read every repo of the org" if settings.is_public else "private",
        )
        try:
            yield
        finally:
            if dask_client is not None:
                await run_in_threadpool(dask_client.close)

    app = FastAPI(
        title=f"Arraylake {settings.protocol.value} service {settings.deployment}",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )

    @app.get("/_health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "protocol": settings.protocol.value, "deployment": settings.deployment}

    app.include_router(discovery_router(settings, access))

    @app.api_route("/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def data(path: str, request: Request) -> Response:
        route = parse_data_path(request.url.path, settings.protocol)
        check_org(route.org, settings)
        caller = caller_of(request.headers.get("authorization"), settings)
        repo = await access.open(caller, route.org, route.repo)
        resolved = await resolve_ref(repo, route.ref, what=f"{route.org}/{route.repo}")
        key = DatasetKey(route.org, route.repo, resolved.snapshot, route.group)
        given = request.query_params.multi_items()
        query = adjust_query(settings.protocol, route.rest, given)
        # As the client encoded it when nothing was added: a DAP2 constraint (``air[0:1:5]``) is no key=value
        # pair, and re-encoding would turn it into ``air[0:1:5]=``.
        query_string = request.url.query if query == given else urlencode(query)
        public_prefix = links.public_base(settings.public_url, request) + route.public_prefix
        # The links in an answer name the public URL, so it is part of what the ETag identifies.
        tag = caching.etag(
            resolved.snapshot, route.group, settings.protocol.value, route.rest, query_string, public_prefix
        )
        headers = {
            caching.SNAPSHOT_HEADER: resolved.snapshot,
            "ETag": tag,
            "Cache-Control": caching.cache_control(
                resolved.kind, is_public=settings.is_public, branch_max_age=settings.cache_max_age
            ),
        }
        if caching.matches(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=headers)
        dataset = await run_in_threadpool(cache.open, repo, key)
        check_request_size(settings.protocol, route.rest, query, dataset, settings.limits)
        internal_id = key.internal_id
        return ForwardedResponse(
            inner,
            path=f"/datasets/{internal_id}/{route.suffix}{route.rest}",
            query_string=query_string,
            success_headers=headers,
            rewrite=lambda body: links.rewrite(
                clean_body(settings.protocol, route.rest, body),
                internal_id,
                public_prefix,
                route.public_prefix.strip("/"),
            ),
        )

    return app


class _HeadAnswered(Exception):
    """Stops the plugin once a HEAD request has its headers (a stream need not be computed)."""


class ForwardedResponse(Response):
    """The answer of the inner xpublish app to the request at ``path``: streamed through as it comes,
    except text (XML, JSON, HTML), which is read whole to rewrite its links."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        path: str,
        query_string: str,
        success_headers: dict[str, str],
        rewrite: Callable[[bytes], bytes],
    ):
        super().__init__()
        self.app = app
        self.path = path
        self.query_string = query_string
        self.success_headers = success_headers
        self.rewrite_body = rewrite

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        inner_scope = {
            **scope,
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": self.query_string.encode(),
            "root_path": "",
            "path_params": {},
        }
        inner_scope.pop("route", None)
        inner_scope.pop("endpoint", None)
        head = scope["method"] == "HEAD"
        if head:  # the plugins' routes answer GET only
            inner_scope["method"] = "GET"
        started: Message | None = None
        buffered: list[bytes] = []
        buffering = False
        sent_start = False

        async def forward(message: Message) -> None:
            nonlocal started, buffering, sent_start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                status = int(message["status"])
                headers[caching.SNAPSHOT_HEADER] = self.success_headers[caching.SNAPSHOT_HEADER]
                if 200 <= status < 300:
                    headers["ETag"] = self.success_headers["ETag"]
                    headers["Cache-Control"] = self.success_headers["Cache-Control"]
                else:
                    headers["Cache-Control"] = "no-store"
                started = {**message, "headers": headers.raw}
                buffering = links.is_text(headers.get("content-type"))
                if not buffering:
                    sent_start = True
                    await send(started)
                    if head:
                        await send({"type": "http.response.body", "body": b"", "more_body": False})
                        raise _HeadAnswered
                return
            if message["type"] == "http.response.body" and buffering:
                buffered.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert started is not None
                body = self.rewrite_body(b"".join(buffered))
                headers = MutableHeaders(raw=list(started["headers"]))
                if "content-length" in headers or body:
                    headers["content-length"] = str(len(body))
                sent_start = True
                await send({**started, "headers": headers.raw})
                await send({"type": "http.response.body", "body": b"" if head else body, "more_body": False})
                return
            await send(message)

        try:
            await self.app(inner_scope, receive, forward)
        except _HeadAnswered:
            pass
        except Exception:
            if not sent_start:
                raise
            # The inner app already answered 500 (or part of a stream): log, do not answer twice.
            logger.exception("error while serving %s", self.path)


def create_app_from_env() -> FastAPI:
    """The app factory uvicorn runs in each worker: settings from ``ARRAYLAKE_DATAPLANE_*``."""
    settings = DataPlaneSettings()
    logging.getLogger("arraylake").setLevel(settings.log_level)
    return create_app(settings)
