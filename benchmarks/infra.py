"""The real parts the benchmarks run against: services on SQLite and PostgreSQL, SeaweedFS."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arraylake.server.bootstrap import migrate
from tests.support.postgres import PostgresCluster
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService

# Benchmarks measure the service as deployed: caches at their defaults, logs at warning.
BENCH_ENV = {
    "ARRAYLAKE_SERVER_LOG_LEVEL": "warning",
    "ARRAYLAKE_SERVER_TOKEN_CACHE_SECONDS": "5",
    "ARRAYLAKE_SERVER_JANITOR_INTERVAL_SECONDS": "10",
}


@contextmanager
def seaweed() -> Iterator[SeaweedFS]:
    store = SeaweedFS()
    store.start()
    try:
        yield store
    finally:
        store.stop()


@contextmanager
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@contextmanager
def service(
    database_url: str | None = None, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[ArraylakeService]:
    """A service started with ``arraylake server start`` on a fresh catalog; removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="arraylake-bench-"))
    settings = {**BENCH_ENV, "ARRAYLAKE_SERVER_WORKERS": str(workers), **(env or {})}
    svc = ArraylakeService(root, database_url, settings)
    asyncio.run(migrate(svc.settings))
    svc.start()
    try:
        yield svc
    except BaseException:
        print(f"service log (last lines):\n{svc.log_text()[-4000:]}", file=sys.stderr)
        raise
    finally:
        svc.stop()
        shutil.rmtree(root, ignore_errors=True)
