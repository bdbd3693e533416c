"""A look at the data: a 2-D slice as an image with a colour bar and sliders, a value at a point, a series."""

from __future__ import annotations

from arraylake.server.web.routing import pages_router

router = pages_router()
