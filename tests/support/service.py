"""A real Arraylake service process (``arraylake server start``) for end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arraylake.server.bootstrap import init_org
from arraylake.server.settings import ServerSettings
from tests.support.processes import ManagedProcess, free_port, http_ok, wait_until

# Short leases and a busy janitor, so that recovery is observable within seconds.
FAST_RECOVERY = {
    "ARRAYLAKE_SERVER_JANITOR_INTERVAL_SECONDS": "0.5",
    "ARRAYLAKE_SERVER_CLEANUP_LEASE_SECONDS": "2",
    "ARRAYLAKE_SERVER_TOKEN_CACHE_SECONDS": "0",
}
# SeaweedFS and the stand-ins run on loopback, which the service refuses by default (server/egress.py).
LOOPBACK_ENDPOINTS = {"ARRAYLAKE_SERVER_ENDPOINT_NETWORKS": '["public", "loopback"]'}


def run_coroutine[T](coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to the end, in a thread of its own when this thread already runs an event loop
    (Playwright's synchronous API does)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@dataclass
class Org:
    """An org in a running service, with its admin token."""

    name: str
    token: str
    service: ArraylakeService

    @property
    def url(self) -> str:
        return self.service.url


class ArraylakeService:
    """Runs ``python -m arraylake server start`` with its own data directory, port and database."""

    def __init__(self, root: Path, database_url: str | None = None, env: dict[str, str] | None = None):
        self.root = root
        self.data_dir = root / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ARRAYLAKE_")}
        self.env.update(FAST_RECOVERY)
        self.env.update(LOOPBACK_ENDPOINTS)
        self.env["ARRAYLAKE_SERVER_DATA_DIR"] = str(self.data_dir)
        if database_url:
            self.env["ARRAYLAKE_SERVER_DATABASE_URL"] = database_url
        self.env.update(env or {})
        self.log_path = root / "service.log"
        """Standard error: the service's JSON log (and the command's own errors)."""
        self.output_path = root / "service.out"
        """Standard output: the lines `arraylake server start` prints for people."""
        self.process: ManagedProcess | None = None

    @property
    def settings(self) -> ServerSettings:
        overrides = {
            k.removeprefix("ARRAYLAKE_SERVER_").lower(): v
            for k, v in self.env.items()
            if k.startswith("ARRAYLAKE_SERVER_")
        }
        return ServerSettings(**overrides)

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the ``arraylake`` command line with this service's environment."""
        return subprocess.run(
            [sys.executable, "-m", "arraylake", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def new_org(self, prefix: str = "org", *, local_bucket: bool = True) -> Org:
        """Create an org (same code as ``server init``, run in-process) and return it with its token."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        result = run_coroutine(
            init_org(self.settings, name, local_bucket=local_bucket, admin_email="admin@example.com")
        )
        return Org(name=name, token=result.token, service=self)

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        env = {**self.env, **(extra_env or {})}
        args = [
            sys.executable,
            "-m",
            "arraylake",
            "server",
            "start",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
        ]
        self.process = ManagedProcess(args, self.log_path, env=env, stdout_path=self.output_path)
        self.process.start()
        try:
            wait_until(
                lambda: http_ok(self.url + "/") or not self.process.running, 120, f"service at {self.url}"
            )
        except TimeoutError:
            self.process.stop()  # a fixture that fails to start is never torn down: leave no process behind
            raise RuntimeError(f"service did not start:\n{self.log_text()[-3000:]}") from None
        if not self.process.running:
            raise RuntimeError(f"service exited at start:\n{self.log_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def restart(self, extra_env: dict[str, str] | None = None) -> None:
        self.stop()
        self.start(extra_env)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def output_text(self) -> str:
        return self.output_path.read_text(errors="replace") if self.output_path.exists() else ""
