"""Changing a repo: create, description and metadata, status, delete; each as the policy allows."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
