"""Signed tokens of the service (ES256 JWTs, with joserfc): id and access tokens of logins, browser sessions.

The key is an EC P-256 private key in PEM, from the ``signing_key`` setting or ``DATA_DIR/signing-key.pem``
(written by ``arraylake server init``/``migrate``). Its public half is published at
``/.well-known/jwks.json``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from arraylake.server.settings import ServerSettings

ALGORITHM = "ES256"
DEFAULT_ISSUER = "arraylake-open"


class SigningKeyMissing(RuntimeError):
    """No key to sign tokens with."""


def write_signing_key_file(path: Path) -> None:
    """Create ``path`` with a new key, readable by its owner only, unless it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(ECKey.generate_key("P-256").as_pem(private=True))


class TokenSigner:
    """Issues and verifies the service's JWTs."""

    def __init__(self, pem: bytes, issuer: str):
        self._key = ECKey.import_key(pem)
        self.kid = self._key.thumbprint()
        self.issuer = issuer

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> TokenSigner:
        if settings.signing_key is not None:
            pem = settings.signing_key.get_secret_value().encode()
        elif settings.signing_key_file.exists():
            pem = settings.signing_key_file.read_bytes()
        else:
            raise SigningKeyMissing(
                "no token signing key: run `arraylake server migrate` "
                f"(it writes {settings.signing_key_file}) or set ARRAYLAKE_SERVER_SIGNING_KEY"
            )
        return cls(pem, settings.public_url.rstrip("/") if settings.public_url else DEFAULT_ISSUER)

    def issue(self, claims: dict[str, Any], lifetime_seconds: int) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "iat": now, "exp": now + lifetime_seconds, **claims}
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, payload, self._key)

    def verify(
        self, token: str, *, audience: str | list[str], use: str | tuple[str, ...]
    ) -> dict[str, Any] | None:
        """The claims of a valid, unexpired token of this issuer for ``audience`` and ``use``, or ``None``."""
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={
                    "essential": True,
                    "values": [audience] if isinstance(audience, str) else list(audience),
                },
                exp={"essential": True},
                sub={"essential": True},
                use={"essential": True, "values": [use] if isinstance(use, str) else list(use)},
            ).validate(decoded.claims)
        except (JoseError, ValueError):
            return None
        return decoded.claims

    def sign_document(self, payload: dict[str, Any]) -> str:
        """A compact JWS of ``payload`` (no expiry): e.g. an audit checkpoint, checked with the public key."""
        return jwt.encode({"alg": ALGORITHM, "kid": self.kid, "typ": "JWT"}, payload, self._key)

    def open_document(self, token: str) -> dict[str, Any] | None:
        """The payload of a document this key signed, or ``None`` when the signature does not hold."""
        try:
            return jwt.decode(token, self._key, algorithms=[ALGORITHM]).claims
        except (JoseError, ValueError):
            return None

    def jwks(self) -> dict[str, Any]:
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}]}
