"""Conformance: the *seed-era* ``arraylake`` client (0.15.0, zarr-python 2.18) on our service's V1 repos.

The seed-era package shares our import name, so it lives in ``.venv-seed`` (``make seed-client``) and runs
``tests/seed_client/scenario.py`` in a subprocess against the real service (SQLite and PostgreSQL catalogs)
and SeaweedFS as S3. Data crosses between the two clients in both directions.

Bucket configs the seed-era client can use: it hands ``extra_config`` to botocore as client arguments, so
only ``endpoint_url``, ``region_name`` and ``use_ssl`` may be set (our service already uses path-style
addressing when ``use_ssl`` is false). It fetches delegated credentials (``/bucket-credentials``) only for
``aws_customer_managed_role`` buckets of platform ``s3``, which our service records only without an
``endpoint_url``; such a bucket reaches SeaweedFS through the client's own ``s3.endpoint_url`` setting.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import xarray as xr

from arraylake import Client
from arraylake.repos.v1 import CommitLog, Repo
from arraylake.types import RepoKind
from tests.conftest import make_service
from tests.seed_client.dataset import encoding, weather
from tests.support.seaweed import ROLE_ARN, SeaweedFS
from tests.support.service import ArraylakeService, Org

PROJECT = Path(__file__).resolve().parent.parent
SEED_PYTHON = PROJECT / ".venv-seed" / "bin" / "python"
SCENARIO = PROJECT / "tests" / "seed_client" / "scenario.py"
TIMEOUT_SECONDS = 240

pytestmark = pytest.mark.s3


@dataclass
class SeedRun:
    """One run of the scenario: its org, bucket, output and the ``RESULT`` it printed."""

    org: Org
    bucket: str
    stdout: str
    result: dict


def seed_env(config_dir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus ``ARRAYLAKE_*`` and ``AWS_*`` settings, with a config dir of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARRAYLAKE_", "AWS_"))}
    env.pop("PYTHONPATH", None)  # never let our src/ shadow the seed-era package
    env["ARRAYLAKE_CONFIG"] = str(config_dir)
    env["ARRAYLAKE_HTTP__MAX_RETRIES"] = "2"  # a deterministic failure surfaces in seconds
    env["ZARR_V3_EXPERIMENTAL_API"] = "1"  # V1 writes use zarr-python 2's v3-draft store API
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_scenario(
    service: ArraylakeService, org: Org, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> SeedRun:
    """Run the scenario in the seed venv; fail the test with its output unless it passed."""
    if not SEED_PYTHON.exists():
        pytest.fail(f"{SEED_PYTHON.relative_to(PROJECT)} does not exist: run `make seed-client`")
    config_dir = workdir / "arraylake-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(SEED_PYTHON),
        str(SCENARIO),
        "--service-url",
        org.url,
        "--token",
        org.token,
        "--org",
        org.name,
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [*command, *args],
            cwd=workdir,
            env=seed_env(config_dir, env),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout or ""
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
        pytest.fail(f"the scenario did not finish in {TIMEOUT_SECONDS}s\n--- output ---\n{out}")
    elapsed = time.monotonic() - started
    print(done.stdout)  # shown with -rP or -s
    assert done.returncode == 0 and "scenario PASSED" in done.stdout, (
        f"the seed-era client failed against the service (exit {done.returncode}, {elapsed:.1f}s)\n"
        f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr[-5000:]}"
        f"\n--- service log (tail) ---\n{service.log_text()[-3000:]}"
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))
    return SeedRun(org=org, bucket="", stdout=done.stdout, result=json.loads(line.removeprefix("RESULT ")))


def seed_bucket_config(seaweed: SeaweedFS, bucket: str) -> dict:
    """The SeaweedFS HMAC config without ``force_path_style``, which botocore would refuse."""
    config = seaweed.bucket_config(bucket)
    del config["extra_config"]["force_path_style"]
    return config


@pytest.fixture(scope="module")
def hmac_run(
    service: ArraylakeService, seaweed: SeaweedFS, tmp_path_factory: pytest.TempPathFactory
) -> SeedRun:
    """The whole scenario on an HMAC bucket, after our client wrote a V1 repo for it to read."""
    # Neither a `local` bucket nor an auth method the seed-era models lack may be listed in the org.
    org = service.new_org("seed", local_bucket=False)
    bucket = seaweed.create_bucket(f"seed-{org.name}")
    ours = Client(org.url, token=org.token)
    ours.create_bucket_config(org=org.name, nickname="hmac", **seed_bucket_config(seaweed, bucket))
    ours.set_default_bucket_config(org=org.name, nickname="hmac")
    repo = ours.create_repo(f"{org.name}/ours", kind=RepoKind.V1)
    assert isinstance(repo, Repo)
    ds = weather(title="written by ours")
    ds.to_zarr(repo.store, group="era", zarr_format=3, consolidated=False, encoding=encoding(ds))
    repo.commit("written by ours")
    workdir = tmp_path_factory.mktemp("seed-hmac")
    run = run_scenario(service, org, workdir, "--bucket", "hmac", "--repo", "seed", "--ours-repo", "ours")
    run.bucket = bucket
    return run


def test_seed_client_lives_a_v1_repo_life(
    hmac_run: SeedRun, service: ArraylakeService, seaweed: SeaweedFS
) -> None:
    assert "scenario PASSED (19 steps)" in hmac_run.stdout
    # the later of two racing commits went through the compare-and-swap retry path
    assert f'"method": "POST", "path": "/repos/{hmac_run.result["repo"]}/rebase", "status": 200' in (
        service.log_text()
    )
    # the chunks went to the bucket, under the repo's id, not into the catalog
    keys = seaweed.keys(hmac_run.bucket, hmac_run.result["repo_id"] + "/chunks/")
    assert len(keys) >= 10, keys


def test_data_of_the_seed_client_reads_in_ours(hmac_run: SeedRun) -> None:
    client = Client(hmac_run.org.url, token=hmac_run.org.token)
    repo = client.get_repo(hmac_run.result["repo"], read_only=True)
    assert isinstance(repo, Repo)
    xr.testing.assert_identical(repo.to_xarray("era").load(), weather())
    assert repo.to_xarray("era").tas.attrs["standard_name"] == "air_temperature"
    xr.testing.assert_identical(repo.to_xarray("shared_b").load(), weather(1, title="from the second"))
    log = repo.commit_log
    assert isinstance(log, CommitLog)
    messages = [c.message for c in log]
    assert messages == ["race b", "race a", "two writers, one session", "add two days"]
    assert [(t.label, t.message) for t in repo.tags] == [("v1.0", "first release")]
    repo.checkout("v1.0", for_writing=False)
    assert "shared_b" not in repo.tree().trees


def test_data_of_our_client_decodes_alike_in_the_seed_client(hmac_run: SeedRun) -> None:
    # The stored values and attributes already matched (a scenario step); this is xarray's decoding, which
    # masks with the draft fill_value: a zarr 3 default of 0 there would turn the first time step into NaT.
    assert hmac_run.result["ours_decoded"] == "identical"


@pytest.fixture
def role_service(
    request: pytest.FixtureRequest, tmp_path: Path, seaweed: SeaweedFS
) -> Iterator[ArraylakeService]:
    """A service (SQLite: the credential path does not touch the catalog's dialect) whose own AWS
    identity may assume the customer's role at SeaweedFS's STS."""
    service = make_service(tmp_path, "sqlite", request, seaweed.service_identity_env(seaweed.endpoint))
    service.start()
    yield service
    service.stop()


def test_seed_client_on_delegated_credentials(
    role_service: ArraylakeService, seaweed: SeaweedFS, tmp_path: Path
) -> None:
    org = role_service.new_org("seed-role", local_bucket=False)
    bucket = seaweed.create_bucket(f"seed-{org.name}")
    account, role_name = ROLE_ARN.removeprefix("arn:aws:iam::").split(":role/")
    Client(org.url, token=org.token).create_bucket_config(
        org=org.name,
        nickname="role",
        uri=f"s3://{bucket}",
        extra_config={"region_name": seaweed.region},
        auth_config={
            "method": "aws_customer_managed_role",
            "external_customer_id": account,
            "external_role_name": role_name,
        },
    )
    # No AWS keys in its environment: the only way in is the service's /bucket-credentials.
    run = run_scenario(
        role_service,
        org,
        tmp_path,
        *("--bucket", "role", "--repo", "seed-role", "--short"),
        env={"ARRAYLAKE_S3__ENDPOINT_URL": seaweed.endpoint},
    )
    keys = seaweed.keys(bucket, run.result["repo_id"] + "/chunks/")
    assert len(keys) >= 4, keys
    assert (
        f'"path": "/repos/{org.name}/seed-role/bucket-credentials", "status": 200' in role_service.log_text()
    )
