"""What every request handler may need: settings, the database engine, the token cache, the secret box."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.buckets.service import BucketCodec
from arraylake.server.catalog_cache import CatalogCache
from arraylake.server.credentials.vendor import CredentialVendor
from arraylake.server.credentials.virtual import ContainerCredentials
from arraylake.server.db.engine import read_engine
from arraylake.server.identity.auth import TokenCache, authenticate
from arraylake.server.identity.principals import Principal
from arraylake.server.identity.signing import TokenSigner
from arraylake.server.repos.page_anchors import PageAnchors
from arraylake.server.sealing import SecretBox
from arraylake.server.settings import ServerSettings
from arraylake.server.web.oidc import OidcProvider


@dataclass
class AppContext:
    settings: ServerSettings
    engine: AsyncEngine
    """For transactions (writes): ``async with ctx.engine.begin()``."""
    tokens: TokenCache
    secrets: SecretBox
    codec: BucketCodec
    """Bucket rows to wire models and storage settings, opening their secrets with ``secrets``."""
    signer: TokenSigner
    vendor: CredentialVendor
    containers: ContainerCredentials
    catalog: CatalogCache
    """Recent catalog reads (repo records, virtual chunk policies) for the hot paths."""
    page_anchors: PageAnchors
    """Where deep pages of each org's repos start, while its list is unchanged."""
    oidc: OidcProvider | None = None
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    @cached_property
    def reader(self) -> AsyncEngine:
        """The engine for reads (see :func:`read_engine`)."""
        return read_engine(self.engine)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
        return task


async def app_context(request: Request) -> AppContext:
    # async: FastAPI would run a plain function in its thread pool, a thread hop on every request
    return request.app.state.ctx


async def current_principal(request: Request, ctx: AppContext = Depends(app_context)) -> Principal:
    """FastAPI dependency: the authenticated principal of this request."""
    principal = await authenticate(ctx.tokens, request.headers.get("authorization"))
    request.scope.setdefault("state", {})["principal_id"] = principal.id
    return principal
