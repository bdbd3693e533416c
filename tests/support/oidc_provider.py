"""A minimal OpenID Connect provider on 127.0.0.1: a stand-in for an external sign-in service.

It signs in whoever ``next_user`` names without asking, and checks what a real provider checks of the
relying party: client credentials, the redirect URI, the PKCE verifier, single-use codes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.processes import free_port, http_ok, wait_until


class FakeOidcProvider:
    def __init__(self, client_id: str = "arraylake-test", client_secret: str = "provider-secret-123") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048)
        self.next_user: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.app = self._build()
        self._server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def _build(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
            }

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [{**self.key.as_dict(private=False), "kid": "k1", "alg": "RS256"}]}

        @app.get("/authorize")
        def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            assert q["client_id"] == self.client_id and q["response_type"] == "code"
            assert q["code_challenge_method"] == "S256"
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": q["nonce"],
                "challenge": q["code_challenge"],
                "redirect_uri": q["redirect_uri"],
                "user": dict(self.next_user),
            }
            return RedirectResponse(
                f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302
            )

        @app.post("/token")
        def token(
            request: Request,
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            code_verifier: str = Form(),
        ) -> JSONResponse:
            expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            grant = self.codes.pop(code, None)
            if (
                request.headers.get("authorization") != expected
                or grant is None
                or grant_type != "authorization_code"
            ):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if challenge != grant["challenge"] or redirect_uri != grant["redirect_uri"]:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": self.client_id,
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                **grant["user"],
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)
            return JSONResponse({"access_token": "at", "token_type": "Bearer", "id_token": id_token})

        return app

    def start(self) -> None:
        self._thread.start()
        wait_until(lambda: http_ok(f"{self.issuer}/jwks"), 30, "the OIDC provider")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)

    def service_env(self) -> dict[str, str]:
        return {
            "ARRAYLAKE_SERVER_OIDC_ISSUER": self.issuer,
            "ARRAYLAKE_SERVER_OIDC_CLIENT_ID": self.client_id,
            "ARRAYLAKE_SERVER_OIDC_CLIENT_SECRET": self.client_secret,
            "ARRAYLAKE_SERVER_OIDC_DISPLAY_NAME": "Example SSO",
        }
