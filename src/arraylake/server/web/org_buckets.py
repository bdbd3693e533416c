"""Org settings: bucket configs (with the connectivity check) and virtual chunk access policies."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
