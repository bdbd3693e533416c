"""Authenticating requests: bearer token -> principal, with a short-lived in-process cache.

The cache keeps token lookups off the database on the hot path. A revoked token stops working within
``token_cache_seconds`` in every process (immediately in the process that revoked it).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from arraylake.server.errors import Unauthorized
from arraylake.server.identity.principals import Principal
from arraylake.server.identity.service import principal_for_token_hash, touch_token
from arraylake.server.identity.tokens import hash_token, looks_like_token

LAST_USED_RESOLUTION_SECONDS = 60.0


@dataclass
class _Entry:
    principal: Principal | None
    fresh_until: float


class TokenCache:
    """Resolves tokens to principals, remembering each answer for ``ttl`` seconds."""

    def __init__(self, engine: AsyncEngine, ttl: float, max_entries: int = 10_000):
        self._engine = engine
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._touched: dict[str, float] = {}

    async def principal(self, token: str) -> Principal | None:
        key = hash_token(token)
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.fresh_until > now:
            return entry.principal
        async with self._engine.begin() as conn:
            principal = await principal_for_token_hash(conn, key)
            if principal is not None and principal.token_id is not None:
                last = self._touched.get(principal.token_id, 0.0)
                if now - last > LAST_USED_RESOLUTION_SECONDS:
                    await touch_token(conn, principal.token_id)
                    self._touched[principal.token_id] = now
        self._entries[key] = _Entry(principal, now + self._ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return principal

    def invalidate(self) -> None:
        """Forget every cached answer (after a change to tokens, memberships or orgs)."""
        self._entries.clear()


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer`` header, or 401 with a message that says what is wrong."""
    if not authorization:
        raise Unauthorized("missing API token: send the header 'Authorization: Bearer ema_...'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    if not looks_like_token(token):
        raise Unauthorized("malformed API token: expected 'ema_' followed by 43 characters")
    return token


async def authenticate(cache: TokenCache, authorization: str | None) -> Principal:
    """The principal behind the request's bearer token; 401 when there is none or it is not valid."""
    principal = await cache.principal(bearer_token(authorization))
    if principal is None:
        raise Unauthorized("invalid API token: it is unknown, expired or revoked")
    return principal
