"""A misconfigured bucket fails at once, with its real cause, and ``bucket check`` says what works.

Against a real service and a real SeaweedFS: wrong keys, a missing bucket, a closed port and an identity
confined to another bucket each give one refused request (not a retried 502) that names the cause, in the
service's words; the connectivity check reports every capability and leaves no scratch key behind.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from arraylake import Client
from arraylake.exceptions import ArraylakeError
from tests.support.cli import Cli
from tests.support.processes import free_port
from tests.support.seaweed import (
    ADMIN_KEY,
    CONFINED_KEY,
    CONFINED_SECRET,
    READER_KEY,
    READER_SECRET,
    SeaweedFS,
)
from tests.support.service import ArraylakeService, Org

pytestmark = pytest.mark.usefixtures("home")
SQLITE = pytest.mark.parametrize("service", ["sqlite"], indirect=True)
WRONG_SECRET = "certainly-not-the-secret-4711"
CAPABILITIES = ["credentials", "list", "write", "read", "conditional writes", "delete"]


@dataclass
class Misconfig:
    """A bucket config that cannot work, and what the service must say about it."""

    config: dict[str, Any]
    cause: str


def misconfig(kind: str, seaweed: SeaweedFS, bucket: str) -> Misconfig:
    if kind == "wrong secret":
        config = seaweed.hmac_bucket_config(bucket, ADMIN_KEY, WRONG_SECRET)
        return Misconfig(
            config, "the store refused the secret key of access key 'seaw…dmin': it does not match"
        )
    if kind == "unknown access key":
        config = seaweed.hmac_bucket_config(bucket, "AKIANOBODYKNOWSTHIS", WRONG_SECRET)
        return Misconfig(config, "the store refused access key 'AKIA…THIS': it does not know it")
    if kind == "missing bucket":
        missing = f"missing-{uuid.uuid4().hex[:8]}"
        return Misconfig(
            seaweed.bucket_config(missing), f"bucket {missing!r} does not exist at {seaweed.endpoint}"
        )
    if kind == "dead endpoint":
        config = seaweed.bucket_config(bucket)
        closed = f"http://127.0.0.1:{free_port()}"
        config["extra_config"] = {**config["extra_config"], "endpoint_url": closed}
        return Misconfig(config, f"nothing answers at {closed}")
    assert kind == "access denied"
    config = seaweed.hmac_bucket_config(bucket, CONFINED_KEY, CONFINED_SECRET)
    return Misconfig(config, "access denied to access key 'conf…tity'")


KINDS = ["wrong secret", "unknown access key", "missing bucket", "dead endpoint", "access denied"]


def repo_posts(service: ArraylakeService, org: str) -> int:
    """How many repo creations of ``org`` the service has answered (from its request log)."""
    count = 0
    for line in service.log_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "request" and entry.get("method") == "POST":
            count += entry.get("path") == f"/orgs/{org}/repos"
    return count


def wait_for_posts(service: ArraylakeService, org: str) -> int:
    """The count, once the log holds at least one (its line is written just after the answer)."""
    deadline = time.monotonic() + 10
    while (count := repo_posts(service, org)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


@pytest.mark.parametrize("kind", KINDS)
def test_a_misconfigured_bucket_fails_at_once_with_its_cause(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, org: Org, kind: str
) -> None:
    case = misconfig(kind, seaweed, s3_bucket)
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="broken", **case.config)

    with pytest.raises(ArraylakeError) as refused:
        client.create_repo(f"{org.name}/first", bucket_config_nickname="broken")
    assert case.cause in str(refused.value) and "bucket config 'broken'" in str(refused.value)
    assert refused.value.status_code == 424
    assert wait_for_posts(service, org.name) == 1  # one request: no retries

    with httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}) as http:
        answer = http.post(
            f"/orgs/{org.name}/repos",
            json={"name": "second", "bucket_nickname": "broken", "create_mode": "create"},
        )
    assert answer.status_code == 424 and answer.headers["x-arraylake-retry"] == "no"
    assert case.cause in answer.json()["detail"]
    assert "<Code>" not in answer.text and "Error performing" not in answer.text  # never the store's words

    logged = service.log_text()
    assert "storage operation failed" in logged and case.cause.split("'")[0] in logged
    assert WRONG_SECRET not in logged

    report = client.check_bucket_config(org=org.name, nickname="broken")
    assert not report.ok and report.cleaned_up
    steps = {s.capability: s for s in report.steps}
    assert [s.capability for s in report.steps] == CAPABILITIES
    assert steps["credentials"].status == "ok"
    assert steps["list"].status == "failed" and case.cause in (steps["list"].cause or "")
    if kind == "access denied":  # not the whole bucket: writing is tried, and refused too
        assert steps["write"].status == "failed" and case.cause in (steps["write"].cause or "")
    else:
        assert steps["write"].status == "skipped"
    assert all(steps[c].status == "skipped" for c in ("read", "conditional writes", "delete"))
    if kind == "missing bucket":  # the check must not create it (SeaweedFS makes buckets on a PUT)
        assert case.config["uri"].removeprefix("s3://") not in [
            b["Name"] for b in seaweed.s3().list_buckets()["Buckets"]
        ]
    assert seaweed.keys(s3_bucket) == []


def test_a_working_bucket_passes_every_check_and_keeps_no_scratch_key(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, org: Org
) -> None:
    client = Client(org.url, token=org.token)
    config = seaweed.bucket_config(s3_bucket)
    client.create_bucket_config(
        org=org.name, nickname="good", **{**config, "uri": f"s3://{s3_bucket}/team/a"}
    )
    report = client.check_bucket_config(org=org.name, nickname="good")
    assert report.ok and report.cleaned_up, report
    assert [(s.capability, s.status, s.cause) for s in report.steps] == [
        (c, "ok", None) for c in CAPABILITIES
    ]
    assert report.scratch_key.startswith("team/a/.arraylake-check/")
    assert seaweed.keys(s3_bucket) == []


def test_vended_sts_credentials_are_what_the_check_uses(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, org: Org
) -> None:
    client = Client(org.url, token=org.token)
    config = seaweed.sts_bucket_config(s3_bucket)
    client.create_bucket_config(
        org=org.name, nickname="vended", **{**config, "uri": f"s3://{s3_bucket}/data"}
    )
    report = client.check_bucket_config(org=org.name, nickname="vended")
    assert report.ok, report  # the session policy of the prefix allows every step under it
    assert seaweed.keys(s3_bucket) == []

    wrong = seaweed.sts_bucket_config(s3_bucket, role_arn="arn:aws:iam::000000000000:role/NoSuchRole")
    client.create_bucket_config(org=org.name, nickname="no-role", **wrong)
    refused = client.check_bucket_config(org=org.name, nickname="no-role")
    first = refused.steps[0]
    assert first.capability == "credentials" and first.status == "failed"
    assert "STS refused to issue credentials for bucket config 'no-role'" in (first.cause or "")
    assert all(s.status == "skipped" for s in refused.steps[1:])


@SQLITE
def test_an_identity_that_may_only_read_is_told_so(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, org: Org
) -> None:
    client = Client(org.url, token=org.token)
    client.create_bucket_config(
        org=org.name, nickname="reading", **seaweed.hmac_bucket_config(s3_bucket, READER_KEY, READER_SECRET)
    )
    steps = {s.capability: s for s in client.check_bucket_config(org=org.name, nickname="reading").steps}
    assert steps["list"].status == "ok"
    assert steps["write"].status == "failed"
    assert (steps["write"].cause or "").startswith("access denied to access key 'read…tity'")
    assert steps["delete"].status == "skipped" and steps["delete"].cause == "not tried: nothing was written"


# ------------------------------------------------------------------------------------------ command line


def cli_args(config: dict[str, Any]) -> list[str]:
    """``bucket create`` options for the arguments of ``create_bucket_config``."""
    extra = [f"--extra={k}={v}" for k, v in config["extra_config"].items()]
    auth = [f"--auth={k}={v}" for k, v in config["auth_config"].items()]
    return [config["uri"], *extra, *auth]


@SQLITE
def test_bucket_create_checks_by_default(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, org: Org
) -> None:
    cli = Cli(service.url, org.token)
    made = cli("bucket", "create", org.name, "checked", *cli_args(seaweed.bucket_config(s3_bucket)))
    assert f"Check of bucket config checked (s3-compatible://{s3_bucket})" in made.stdout
    for capability in CAPABILITIES:
        assert capability in made.stdout
    assert "failed" not in made.stdout and "skipped" not in made.stdout
    assert seaweed.keys(s3_bucket) == []

    as_json = cli.json(
        "bucket", "create", org.name, "checked-json", *cli_args(seaweed.bucket_config(s3_bucket))
    )
    assert as_json["nickname"] == "checked-json" and as_json["check"]["ok"] is True
    assert [s["status"] for s in as_json["check"]["steps"]] == ["ok"] * len(CAPABILITIES)

    broken = misconfig("missing bucket", seaweed, s3_bucket)
    failed = cli("bucket", "create", org.name, "unchecked", *cli_args(broken.config), code=1)
    assert failed.stderr.splitlines()[-1] == (
        f"Error: bucket config unchecked was created, but its check failed: list: {broken.cause}. Fix the "
        f"bucket or the config, then run `arraylake bucket check {org.name} unchecked`."
    )
    assert "unchecked" in [b["nickname"] for b in cli.json("bucket", "list", org.name)]

    skipped = cli("bucket", "create", org.name, "not-checked", *cli_args(broken.config), "--no-check")
    assert "Check of" not in skipped.stdout and "Created bucket config not-checked" in skipped.stdout


@SQLITE
def test_bucket_check_command(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, org: Org
) -> None:
    cli = Cli(service.url, org.token)
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="fine", **seaweed.bucket_config(s3_bucket))
    table = cli("bucket", "check", org.name, "fine").stdout
    assert "Capability" in table and "conditional writes" in table and "failed" not in table
    report = cli.json("bucket", "check", org.name, "fine")
    assert report["ok"] and report["cleaned_up"] and len(report["steps"]) == len(CAPABILITIES)

    case = misconfig("wrong secret", seaweed, s3_bucket)
    client.create_bucket_config(org=org.name, nickname="wrong-key", **case.config)
    bad = cli("bucket", "check", org.name, "wrong-key", code=1)
    assert "failed" in bad.stdout and "skipped" in bad.stdout
    assert (
        bad.error.startswith("Error: bucket config wrong-key does not work: list: ")
        and case.cause in bad.error
    )
    bad_json = cli("bucket", "check", org.name, "wrong-key", "--json", code=1).json()
    assert bad_json["ok"] is False and bad_json["steps"][1]["cause"].endswith(case.cause)
    assert seaweed.keys(s3_bucket) == []


@SQLITE
def test_repo_create_on_a_misconfigured_bucket_fails_at_once(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, org: Org
) -> None:
    case = misconfig("dead endpoint", seaweed, s3_bucket)
    Client(org.url, token=org.token).create_bucket_config(org=org.name, nickname="dead", **case.config)
    refused = Cli(service.url, org.token)("repo", "create", f"{org.name}/era5", "--bucket", "dead", code=1)
    assert case.cause in refused.error and "try again later" not in refused.error
    assert wait_for_posts(service, org.name) == 1


@SQLITE
def test_local_buckets_check_their_directory(service: ArraylakeService, org: Org) -> None:
    cli = Cli(service.url, org.token)
    made = cli.json("bucket", "create", org.name, "archive", "file://archive/cold/store")
    assert made["check"]["ok"] and made["check"]["cleaned_up"]
    assert [s["status"] for s in made["check"]["steps"]] == ["ok"] * len(CAPABILITIES)
    directory = service.settings.storage_root / org.name / "archive"
    assert list(directory.iterdir()) == []  # the prefix's directories were made for the check, and removed

    directory.joinpath("cold").mkdir(parents=True)
    (directory / "cold" / "kept.txt").write_text("someone's data")
    report = cli.json("bucket", "check", org.name, "archive")
    assert report["ok"] and report["scratch_key"].startswith("cold/store/.arraylake-check/")
    assert sorted(p.name for p in directory.joinpath("cold").iterdir()) == ["kept.txt"]

    target = service.settings.storage_root / org.name / "elsewhere"
    target.mkdir()
    (directory / "cold" / "store").symlink_to(target)
    linked = cli("bucket", "check", org.name, "archive", "--json", code=1).json()
    assert linked["steps"][1]["status"] == "failed" and "symbolic link" in linked["steps"][1]["cause"]
    assert list(target.iterdir()) == []


# ------------------------------------------------------------------------------- messages in the CLI's words


@SQLITE
def test_bucket_create_mistakes_name_the_options(service: ArraylakeService, org: Org) -> None:
    cli = Cli(service.url, org.token)
    no_region = cli("bucket", "create", org.name, "no-region", "s3://some-bucket", code=1)
    assert no_region.error == "Error: s3 buckets need --extra region_name=... (e.g. 'us-east-1')"
    no_keys = cli(
        "bucket",
        "create",
        org.name,
        "no-keys",
        "s3://some-bucket",
        "-e",
        "region_name=x",
        "-a",
        "method=hmac",
        code=1,
    )
    assert no_keys.error == (
        "Error: --auth method=hmac needs --auth access_key_id=...; --auth method=hmac needs --auth "
        "secret_access_key=..."
    )
    unknown = cli("bucket", "create", org.name, "odd", "s3://some-bucket", "-e", "region=x", code=1)
    assert unknown.error.startswith("Error: unknown --extra key 'region'; known keys: endpoint_url")
    method = cli(
        "bucket", "create", org.name, "odd", "s3://b-b-b", "-e", "region_name=x", "-a", "method=magic", code=1
    )
    assert method.error.startswith("Error: unknown --auth method 'magic'; use one of anonymous, hmac")
    endpoint = cli("bucket", "create", org.name, "odd", "s3://b-b-b", "-e", "endpoint_url=ftp://x", code=1)
    assert endpoint.error.startswith("Error: --extra endpoint_url must be an http(s) URL")
    for failed in (no_region, no_keys, unknown, method, endpoint):
        assert "pydantic" not in failed.stderr and "validation error" not in failed.stderr


@SQLITE
def test_a_missing_default_bucket_names_both_ways_out(service: ArraylakeService) -> None:
    bare = service.new_org("bare", local_bucket=False)
    refused = Cli(service.url, bare.token)("repo", "create", f"{bare.name}/first", code=1)
    assert f"org {bare.name} has no default bucket config" in refused.error
    assert "arraylake repo create ORG/REPO --bucket NICKNAME" in refused.error
    assert f"arraylake bucket set-default {bare.name} NICKNAME" in refused.error
    assert "bucket_config_nickname" in refused.error  # the Python argument, under its real name
