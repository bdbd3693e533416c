"""Conformance: the *published* ``arraylake`` client (PyPI 1.7.0) against our real service.

The published package shares our import name, so it lives in ``.venv-published`` (``make published-client``)
and runs ``tests/published_client/scenario.py`` in a subprocess, against a real service (SQLite and
PostgreSQL catalogs) and SeaweedFS as S3.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.seaweed import ADMIN_KEY, ADMIN_SECRET, SeaweedFS
from tests.support.service import ArraylakeService

PROJECT = Path(__file__).resolve().parent.parent
PUBLISHED_PYTHON = PROJECT / ".venv-published" / "bin" / "python"
SCENARIO = PROJECT / "tests" / "published_client" / "scenario.py"
TIMEOUT_SECONDS = 240


def published_client_env(config_dir: Path) -> dict[str, str]:
    """The environment minus any ``ARRAYLAKE_*`` setting, with a config dir of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARRAYLAKE_")}
    env.pop("PYTHONPATH", None)  # never let our src/ shadow the published package
    env["ARRAYLAKE_CONFIG"] = str(config_dir)
    # A deterministic failure must surface in seconds, not after ~15 retries with backoff.
    env["ARRAYLAKE_HTTP__MAX_RETRIES"] = "2"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.mark.s3
def test_published_client_scenario(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    if not PUBLISHED_PYTHON.exists():
        pytest.fail(
            f"{PUBLISHED_PYTHON.relative_to(PROJECT)} does not exist: run `make published-client` "
            "to install the published arraylake client in its own venv"
        )
    # The published client rejects bucket listings with our `local` platform: no local bucket here.
    org = service.new_org("pub", local_bucket=False)
    args = [
        str(PUBLISHED_PYTHON),
        str(SCENARIO),
        "--service-url",
        org.url,
        "--token",
        org.token,
        "--org",
        org.name,
        "--s3-endpoint",
        seaweed.endpoint,
        "--s3-bucket",
        s3_bucket,
        "--s3-access-key",
        ADMIN_KEY,
        "--s3-secret",
        ADMIN_SECRET,
    ]
    config_dir = tmp_path / "arraylake-config"
    config_dir.mkdir()
    started = time.monotonic()
    try:
        result = subprocess.run(
            args,
            cwd=tmp_path,
            env=published_client_env(config_dir),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout or ""
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        pytest.fail(
            f"the scenario did not finish in {TIMEOUT_SECONDS}s\n--- output ---\n{out}"
            f"\n--- service log (tail) ---\n{service.log_text()[-3000:]}"
        )
    elapsed = time.monotonic() - started
    print(result.stdout)  # shown with -rP or -s
    assert result.returncode == 0, (
        f"the published client failed against the service (exit {result.returncode}, {elapsed:.1f}s)\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr[-5000:]}"
        f"\n--- service log (tail) ---\n{service.log_text()[-3000:]}"
    )
    assert "scenario PASSED" in result.stdout, result.stdout
