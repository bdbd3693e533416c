"""The Arraylake service: a FastAPI application over a SQL catalog.

Needs the ``server`` extra. Start it with ``arraylake server init`` and ``arraylake server start``, or build
the ASGI app with :func:`arraylake.server.app.create_app`.
"""
