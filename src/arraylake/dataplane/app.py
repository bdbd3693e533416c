"""The data plane's front door (entry point; the routing, auth and protocol wiring follow)."""

from __future__ import annotations

from fastapi import FastAPI

from arraylake.dataplane.settings import DataPlaneSettings


def create_app(settings: DataPlaneSettings) -> FastAPI:
    """The ASGI app of one deployment."""
    app = FastAPI(title=f"Arraylake {settings.protocol.value} data plane", docs_url=None, redoc_url=None)

    @app.get("/_health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok", "protocol": settings.protocol.value, "deployment": settings.deployment}

    return app


def create_app_from_env() -> FastAPI:
    """The app factory uvicorn runs in each worker: settings from ``ARRAYLAKE_DATAPLANE_*``."""
    return create_app(DataPlaneSettings())
