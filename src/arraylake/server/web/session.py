"""Browser sign-in sessions: a signed, HttpOnly cookie holding the user's id and a CSRF token.

Forms that change something carry the CSRF token in a hidden field; a page of another site cannot read it,
so it cannot forge those forms.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from fastapi import Request, Response

from arraylake.server.identity.signing import TokenSigner

COOKIE = "arraylake_session"
AUDIENCE = "arraylake-web"


@dataclass(frozen=True)
class WebSession:
    principal_id: str
    csrf: str

    def csrf_ok(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(self.csrf, offered or "")


def current(request: Request, signer: TokenSigner) -> WebSession | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    claims = signer.verify(raw, audience=AUDIENCE, use="web")
    if claims is None or not isinstance(claims.get("csrf"), str):
        return None
    return WebSession(principal_id=str(claims["sub"]), csrf=claims["csrf"])


def start(
    response: Response, request: Request, signer: TokenSigner, principal_id: str, lifetime: int
) -> None:
    token = signer.issue(
        {"sub": principal_id, "aud": AUDIENCE, "use": "web", "csrf": secrets.token_urlsafe(24)}, lifetime
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=lifetime,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def safe_next(target: str | None, default: str = "/device") -> str:
    """Only same-site paths: a sign-in link must not be able to send the user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


OIDC_COOKIE = "arraylake_oidc"
OIDC_AUDIENCE = "arraylake-oidc"
OIDC_SECONDS = 600


def remember_oidc(response: Response, request: Request, signer: TokenSigner, data: dict[str, str]) -> None:
    """Keep state, nonce, PKCE verifier and the way back while the browser is at the provider."""
    token = signer.issue({"sub": "oidc", "aud": OIDC_AUDIENCE, "use": "oidc", **data}, OIDC_SECONDS)
    response.set_cookie(
        OIDC_COOKIE,
        token,
        max_age=OIDC_SECONDS,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/login/oidc",
    )


def recall_oidc(request: Request, signer: TokenSigner) -> dict[str, str] | None:
    raw = request.cookies.get(OIDC_COOKIE)
    if not raw:
        return None
    claims = signer.verify(raw, audience=OIDC_AUDIENCE, use="oidc")
    if claims is None:
        return None
    return {k: str(claims[k]) for k in ("state", "nonce", "verifier", "next") if k in claims}
