"""Logging in as a user: where the OAuth endpoints are, the device flow, the tokens it yields."""

from __future__ import annotations

from arraylake.types.common import WireModel


class OAuthConfig(WireModel):
    """``GET /auth/config?target=client``: where to log in (hosted dialect plus full endpoint URLs)."""

    domain: str
    client_id: str
    issuer: str | None = None
    device_authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    revocation_endpoint: str | None = None


class DeviceAuthorizationResponse(WireModel):
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int


class OAuthTokens(WireModel):
    """Token endpoint answer, and the content of the client's token file."""

    access_token: str
    id_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a token)
