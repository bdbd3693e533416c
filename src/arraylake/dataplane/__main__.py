"""``python -m arraylake.dataplane --host H --port P --workers N``: serve one deployment with uvicorn.

The settings come from ``ARRAYLAKE_DATAPLANE_*`` environment variables; each of the N worker processes
builds the app with ``arraylake.dataplane.app:create_app_from_env``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from arraylake.dataplane.settings import DataPlaneSettings

APP_FACTORY = "arraylake.dataplane.app:create_app_from_env"


def run(host: str, port: int, workers: int = 1, settings: DataPlaneSettings | None = None) -> None:
    """Serve the data plane on ``host:port`` with ``workers`` processes until interrupted."""
    import uvicorn

    settings = settings or DataPlaneSettings()
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        limit_concurrency=settings.concurrency,
        log_level=settings.log_level.lower(),
        server_header=False,
        # The service's proxy sends X-Arraylake-Public-Base; the front door needs no forwarded headers.
        proxy_headers=False,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arraylake.dataplane", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--workers", type=int, default=1, help="Worker processes (replicas) on this port.")
    args = parser.parse_args(argv)
    run(args.host, args.port, max(1, args.workers))


if __name__ == "__main__":
    main()
