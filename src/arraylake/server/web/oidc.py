"""Signing in through an external OpenID Connect provider (authorization code flow with PKCE).

The provider is named by the ``oidc_issuer``/``oidc_client_id``/``oidc_client_secret`` settings. The
authorization URL carries a PKCE challenge (authlib's RFC 7636 helper); the code is exchanged at the
provider's token endpoint; the provider's id token is verified against its published keys (issuer,
audience, expiry, nonce). The user is matched by the provider's subject, else by
a verified email (and linked), else created when ``oidc_create_users`` is on.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from arraylake.server.settings import ServerSettings

METADATA_TTL_SECONDS = 3600


class OidcError(Exception):
    """The provider's answer cannot be trusted or used; the message is safe to show."""


@dataclass(frozen=True)
class ExternalIdentity:
    subject: str
    email: str
    first_name: str | None
    family_name: str | None


class OidcProvider:
    def __init__(self, settings: ServerSettings):
        assert settings.oidc_issuer and settings.oidc_client_id
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._fetched = 0.0

    async def _discover(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._fetched > METADATA_TTL_SECONDS:
            async with httpx.AsyncClient(timeout=10) as http:
                try:
                    meta = (
                        (await http.get(f"{self.issuer}/.well-known/openid-configuration"))
                        .raise_for_status()
                        .json()
                    )
                    jwks = (await http.get(meta["jwks_uri"])).raise_for_status().json()
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    raise OidcError("the sign-in provider could not be reached") from exc
            self._metadata, self._keys, self._fetched = meta, KeySet.import_key_set(jwks), time.monotonic()
        return self._metadata

    async def authorization_url(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """Where to send the browser, and what to keep (state, nonce, PKCE verifier) until it is back."""
        meta = await self._discover()
        remembered = {
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "verifier": secrets.token_urlsafe(48),
        }
        params = [
            ("response_type", "code"),
            ("client_id", self.client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "openid email profile"),
            ("state", remembered["state"]),
            ("nonce", remembered["nonce"]),
            ("code_challenge", create_s256_code_challenge(remembered["verifier"])),
            ("code_challenge_method", "S256"),
        ]
        return add_params_to_uri(meta["authorization_endpoint"], params), remembered

    async def identity(self, redirect_uri: str, code: str, remembered: dict[str, str]) -> ExternalIdentity:
        """Exchange the code and verify the id token it brings."""
        meta = await self._discover()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": remembered["verifier"],
        }
        auth = (self.client_id, self._secret) if self._secret else None
        async with httpx.AsyncClient(timeout=10, auth=auth) as http:
            try:
                response = await http.post(meta["token_endpoint"], data=form)
                token = response.raise_for_status().json()
            except (httpx.HTTPError, ValueError) as exc:
                raise OidcError("the sign-in provider refused the code") from exc
        raw = token.get("id_token")
        if not raw:
            raise OidcError("the sign-in provider sent no id token")
        assert self._keys is not None
        try:
            decoded = jwt.decode(raw, self._keys, algorithms=["RS256", "ES256", "PS256", "EdDSA"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.client_id},
                exp={"essential": True},
                sub={"essential": True},
                nonce={"essential": True, "value": remembered["nonce"]},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError("the sign-in provider's id token did not verify") from exc
        claims = decoded.claims
        email = claims.get("email")
        if not email or claims.get("email_verified") is False:
            raise OidcError("the sign-in provider did not give a verified email address")
        return ExternalIdentity(
            subject=f"{self.issuer}|{claims['sub']}",
            email=str(email),
            first_name=claims.get("given_name"),
            family_name=claims.get("family_name"),
        )
