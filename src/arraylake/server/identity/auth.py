"""Authenticating requests: a bearer token -> the principal behind it, with a short-lived cache.

Two kinds of bearer token are accepted: API tokens (``ema_...``, of API clients) and the id (or access)
tokens of a login (JWTs signed by this service, tied to a login session). The cache keeps lookups off the
database on the hot path: a revoked token or ended login stops working within ``token_cache_seconds`` in
every process, at once in the process that revoked it, whose commits clear the cache
(:func:`arraylake.server.catalog_cache.invalidate_on_commit`).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.db.engine import read_engine
from arraylake.server.errors import Unauthorized
from arraylake.server.identity import sessions
from arraylake.server.identity.principals import Principal
from arraylake.server.identity.service import principal_by_id, principal_for_token_hash, touch_token
from arraylake.server.identity.signing import TokenSigner
from arraylake.server.identity.tokens import TOKEN_PREFIX, hash_token, looks_like_token
from arraylake.server.single_flight import SingleFlight
from arraylake.types import utcnow

LAST_USED_RESOLUTION_SECONDS = 60.0
_JWT = re.compile(r"ey[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")


@dataclass
class _Entry:
    principal: Principal | None
    fresh_until: float


class TokenCache:
    """Resolves bearer tokens to principals, remembering each answer for ``ttl`` seconds."""

    def __init__(
        self,
        engine: AsyncEngine,
        ttl: float,
        signer: TokenSigner,
        client_ids: list[str],
        max_entries: int = 10_000,
    ):
        self._engine = engine
        self._reader = read_engine(engine)
        self._flights: SingleFlight[str, Principal | None] = SingleFlight()
        self._ttl = ttl
        self._signer = signer
        self._client_ids = client_ids
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        # A lookup that started before a commit must not store what it read: it may predate the write.
        self._generation = 0
        self._touched: dict[str, float] = {}

    async def principal(self, token: str) -> Principal | None:
        key = hash_token(token)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.fresh_until > now:
            return entry.principal
        generation = self._generation
        principal = await self._flights.run(key, lambda: self._lookup(token, key, now))
        if generation != self._generation:
            return principal
        fresh_until = now + self._ttl
        expires_at = principal.token_expires_at if principal is not None else None
        if expires_at is not None:  # never serve a token from the cache past its expiry
            fresh_until = min(fresh_until, now + (expires_at - utcnow()).total_seconds())
        self._entries[key] = _Entry(principal, fresh_until)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return principal

    async def _lookup(self, token: str, token_hash: str, now: float) -> Principal | None:
        if token.startswith(TOKEN_PREFIX):
            return await self._api_client(token_hash, now)
        return await self._login(token)

    async def _api_client(self, token_hash: str, now: float) -> Principal | None:
        async with self._reader.connect() as conn:
            principal = await principal_for_token_hash(conn, token_hash)
        token_id = principal.token_id if principal is not None else None
        if token_id is not None and now - self._touched.get(token_id, 0.0) > LAST_USED_RESOLUTION_SECONDS:
            async with self._engine.begin() as conn:
                await touch_token(conn, token_id)
            self._touched[token_id] = now
        return principal

    async def _login(self, token: str) -> Principal | None:
        claims = self._signer.verify(token, audience=self._client_ids, use=("id", "access"))
        if claims is None or not isinstance(claims.get("sid"), str):
            return None
        async with self._reader.connect() as conn:
            if not await sessions.is_active(conn, claims["sid"]):
                return None
            return await principal_by_id(
                conn,
                str(claims["sub"]),
                session_id=claims["sid"],
                token_expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )

    def invalidate(self) -> None:
        """Forget every cached answer (after a change to tokens, memberships, grants or orgs)."""
        self._generation += 1
        self._entries.clear()


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header, or 401 with a message that says what is wrong."""
    if not authorization:
        raise Unauthorized("missing API token or login: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    if token.startswith(TOKEN_PREFIX):
        if not looks_like_token(token):
            raise Unauthorized("malformed API token: expected 'ema_' followed by 43 characters")
    elif not _JWT.fullmatch(token):
        raise Unauthorized("malformed token: expected an API token (ema_...) or a login token")
    return token


async def authenticate(cache: TokenCache, authorization: str | None) -> Principal:
    """The principal behind the request's bearer token; 401 when there is none or it is not valid."""
    token = bearer_token(authorization)
    principal = await cache.principal(token)
    if principal is None:
        if token.startswith(TOKEN_PREFIX):
            raise Unauthorized("invalid API token: it is unknown, expired or revoked")
        raise Unauthorized("invalid or expired login: log in again")
    return principal
