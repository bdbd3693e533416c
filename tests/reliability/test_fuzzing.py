"""Schemathesis against the service's own OpenAPI schema, with an admin token: no 5xx, ever."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import ArraylakeService

pytestmark = pytest.mark.reliability
MIN_REQUESTS = 2000


def test_no_server_errors_over_generated_requests(fresh_service: ArraylakeService, tmp_path: Path) -> None:
    fresh_service.start()
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
