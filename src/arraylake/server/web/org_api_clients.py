"""Org settings: API clients and their tokens (shown once), revoke, last used."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
