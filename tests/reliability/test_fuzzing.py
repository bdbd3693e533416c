"""Schemathesis against the service's own OpenAPI schema, with an admin token: no 5xx, ever."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.service import ArraylakeService

pytestmark = pytest.mark.reliability
MIN_REQUESTS = 2000


# The fuzzing is of the API: compute services it enables are recorded, not run (each would be processes).
NOT_SUPERVISED = {"ARRAYLAKE_SERVER_COMPUTE_SUPERVISE": "false"}


def test_no_server_errors_over_generated_requests(fresh_service: ArraylakeService, tmp_path: Path) -> None:
    fresh_service.start(NOT_SUPERVISED)
    org = fresh_service.new_org("fuzz")
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{fresh_service.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {org.token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "30",
            "--phases",
            "coverage,fuzzing",
            "--generation-deterministic",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    fresh_service.stop()
    lines = [json.loads(line) for line in fresh_service.log_text().splitlines() if line.startswith("{")]
    statuses = [line["status"] for line in lines if line.get("event") == "request"]
    server_errors = [line for line in lines if line.get("event") == "request" and line["status"] >= 500]
    (tmp_path / "schemathesis.txt").write_text(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:]
    assert len(statuses) >= MIN_REQUESTS, f"only {len(statuses)} requests were made"
    assert server_errors == [], server_errors[:5]


COMPUTE_REQUESTS = 600
COMPUTE_CONFIG = """
[parameters]
"path.org" = "{org}"
"path.name" = {{ dictionary = "names", probability = 0.8 }}
"body.org" = {{ dictionary = "orgs", probability = 0.9 }}
# Followed logs stream for follow_timeout seconds (up to 600): the run follows them for one.
"query.follow_timeout" = 1

[dictionaries.names]
values = ["fuzz-a", "fuzz-b", "fuzz-c"]

[dictionaries.orgs]
values = ["{org}"]
"""


def test_no_server_errors_on_the_compute_control_plane(
    fresh_service: ArraylakeService, tmp_path: Path
) -> None:
    """The compute routes alone, in the org (not random org names, which stop at the policy) and on
    deployments that exist (enabled and disabled by the run itself): every state a deployment goes through."""
    fresh_service.start(NOT_SUPERVISED)
    org = fresh_service.new_org("fuzz")
    (tmp_path / "schemathesis.toml").write_text(COMPUTE_CONFIG.format(org=org.name))
    headers = {"authorization": f"Bearer {org.token}"}
    for name in ("fuzz-a", "fuzz-b"):
        body = {"service_type": "zarr", "org": org.name, "deployment_name": name}
        made = httpx.post(f"{fresh_service.url}/compute/orgs/{org.name}/services", json=body, headers=headers)
        assert made.status_code == 201, made.text
    st = Path(sys.executable).with_name("st")
    result = subprocess.run(
        [
            str(st),
            "run",
            f"{fresh_service.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {org.token}",
            "--include-path-regex",
            "^/compute/",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "100",
            "--phases",
            "coverage,fuzzing,stateful",
            "--generation-deterministic",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    fresh_service.stop()
    lines = [json.loads(line) for line in fresh_service.log_text().splitlines() if line.startswith("{")]
    requests = [
        line for line in lines if line.get("event") == "request" and line["path"].startswith("/compute/")
    ]
    (tmp_path / "schemathesis.txt").write_text(result.stdout)
    assert result.returncode == 0, result.stdout[-4000:]
    assert len(requests) >= COMPUTE_REQUESTS, f"only {len(requests)} requests were made"
    assert [r for r in requests if r["status"] >= 500] == []
    reached = {(r["method"], r["status"]) for r in requests}
    # Past validation into every use case: enabled, listed, read, changed, disabled, logs read.
    assert {("POST", 201), ("GET", 200), ("PATCH", 200), ("DELETE", 200)} <= reached, sorted(reached)
