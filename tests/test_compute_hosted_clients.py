"""Both published client lines drive our compute control plane unchanged: the 1.7 client
(``.venv-published``, ``tests/published_client/compute_scenario.py``) and the 0.15 client (``.venv-seed``,
``tests/seed_client/compute_scenario.py``), each in its own venv in a subprocess, against the real service on
SQLite and PostgreSQL: enable, list, status, logs, (1.7: update, regions, async client) and disable, through
the API and through each client's command line.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.service import ArraylakeService, Org
from tests.test_published_client import PUBLISHED_PYTHON, published_client_env
from tests.test_seed_client import SEED_PYTHON, seed_env

PROJECT = Path(__file__).resolve().parent.parent
TIMEOUT_SECONDS = 180


def run_scenario(python: Path, script: str, env: dict[str, str], org: Org, workdir: Path) -> dict:
    """Run a compute scenario in a client's venv; fail with its output unless it passed; its RESULT."""
    if not python.exists():
        pytest.fail(f"{python.relative_to(PROJECT)} does not exist: run `make published-client seed-client`")
    args = [
        str(python),
        str(PROJECT / script),
        "--service-url",
        org.url,
        "--token",
        org.token,
        "--org",
        org.name,
    ]
    try:
        done = subprocess.run(
            args, cwd=workdir, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode(errors="replace") if isinstance(expired.stdout, bytes) else expired.stdout
        pytest.fail(f"{script} did not finish in {TIMEOUT_SECONDS}s\n--- output ---\n{out}")
    print(done.stdout)  # shown with -rP or -s
    assert done.returncode == 0 and "compute scenario PASSED" in done.stdout, (
        f"{script} failed (exit {done.returncode})\n--- stdout ---\n{done.stdout}\n--- stderr ---\n"
        f"{done.stderr[-5000:]}\n--- service log (tail) ---\n{org.service.log_text()[-3000:]}"
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_the_1_7_client_drives_compute_services(service: ArraylakeService, tmp_path: Path) -> None:
    org = service.new_org("pub-compute")
    config_dir = tmp_path / "arraylake-config"
    config_dir.mkdir()
    env = published_client_env(config_dir)
    result = run_scenario(PUBLISHED_PYTHON, "tests/published_client/compute_scenario.py", env, org, tmp_path)
    assert result["steps"] == 14
    assert f'"method": "PATCH", "path": "/compute/orgs/{org.name}/services/zarr-prod", "status": 200' in (
        service.log_text()
    )


def test_the_0_15_client_drives_compute_services(service: ArraylakeService, tmp_path: Path) -> None:
    org = service.new_org("seed-compute")
    admin = httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=30)
    base = f"/compute/orgs/{org.name}/services"
    # A deployment of a type this client's models lack: its listing must parse anyway.
    made = admin.post(
        base, json={"service_type": "tiles", "org": org.name, "sku_code": "xs", "min_replicas": 0}
    )
    assert made.status_code == 201, made.text
    tiles = made.json()["deployment"]["name"]
    try:
        config_dir = tmp_path / "arraylake-config"
        config_dir.mkdir()
        result = run_scenario(
            SEED_PYTHON, "tests/seed_client/compute_scenario.py", seed_env(config_dir), org, tmp_path
        )
    finally:
        assert admin.delete(f"{base}/{tiles}").status_code == 200
        admin.close()
    assert result["steps"] == 11
    assert tiles not in result["listed"] and len(result["listed"]) == 3
