"""OAuth 2.0 error answers (RFC 6749 section 5.2, RFC 8628 section 3.5).

Their body is ``{"error": ..., "error_description": ...}``, not the ``detail`` of the rest of the API.
"""

from __future__ import annotations


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status_code: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code
