"""API tokens: ``ema_`` followed by 256 random bits; only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "ema_"  # noqa: S105 (a prefix, not a secret)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_hint(token: str) -> str:
    """A harmless prefix that lets people tell their tokens apart."""
    return token[:8]


def looks_like_token(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and 20 <= len(token) <= 200
