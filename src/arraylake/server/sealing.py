"""Sealing secrets (bucket keys) before they reach the catalog, with Fernet from ``cryptography``.

Sealed values look like ``sealed:v1:<fernet token>``. Several keys may be configured (newest first) so that
keys can be rotated: values sealed with an older key still open, and new values use the newest.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from arraylake.server.settings import ServerSettings

SEALED_PREFIX = "sealed:v1:"


class SecretKeyMissing(RuntimeError):
    """No key to seal secrets with."""


class SecretBox:
    """Seals and opens short secrets."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise SecretKeyMissing("no secret key configured")
        self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> SecretBox:
        configured = settings.secret_key.get_secret_value() if settings.secret_key else None
        return cls(load_keys(configured, settings.secret_key_file))

    def seal(self, secret: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(SEALED_PREFIX):
            raise ValueError("value is not sealed")
        try:
            return self._fernet.decrypt(sealed[len(SEALED_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyMissing("a stored secret was sealed with a key that is not configured") from exc


def new_key() -> str:
    return Fernet.generate_key().decode()


def write_key_file(path: Path) -> None:
    """Create ``path`` with a new key, readable by its owner only, unless it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(new_key() + "\n")


def load_keys(configured: str | None, key_file: Path) -> list[str]:
    """Keys from the setting if given, else from the key file."""
    if configured:
        return [k for k in configured.split(",") if k.strip()]
    if key_file.exists():
        return [k for k in key_file.read_text().split(",") if k.strip()]
    raise SecretKeyMissing(
        f"no secret key: run `arraylake server init` (it writes {key_file}) "
        "or set ARRAYLAKE_SERVER_SECRET_KEY"
    )
