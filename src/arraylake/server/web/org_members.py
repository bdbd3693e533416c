"""Org settings: members and roles, repo grants."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
