"""Credential vending against SeaweedFS with IAM and STS enforced.

Sessions are scoped to one repo's prefix and one kind of access, expire and are refreshed, are shared by a
Dask cluster, and fail clearly.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import icechunk
import numpy as np
import pytest
import xarray as xr
import zarr
from botocore.exceptions import ClientError

from arraylake import Client
from arraylake.exceptions import ArraylakeServerError
from arraylake.types import OrgRole
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org


def denied(call) -> bool:  # type: ignore[no-untyped-def]
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"] in ("AccessDenied", "ExpiredToken", "InvalidAccessKeyId", "403")
    return False


def open_info(org: Org, repo: str, token: str, access: str | None = None) -> dict:
    params = {"access": access} if access else {}
    response = httpx.get(
        f"{org.url}/repos/{org.name}/{repo}/open", params=params, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def sts_org(service: ArraylakeService, seaweed: SeaweedFS, bucket: str, **auth: object) -> tuple[Org, Client]:
    org = service.new_org("sts", local_bucket=False)
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="vended", **seaweed.sts_bucket_config(bucket, **auth))
    client.set_default_bucket_config(org=org.name, nickname="vended")
    return org, client


def fill(repo: icechunk.Repository, value: float = 1.0) -> str:
    session = repo.writable_session("main")
    array = zarr.group(session.store).require_array("x", shape=(64,), chunks=(8,), dtype="f8")
    array[:] = np.full(64, value)
    return session.commit(f"fill {value}")


def test_credentials_reach_exactly_one_repo(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, client = sts_org(service, seaweed, s3_bucket)
    fill(client.create_repo(f"{org.name}/alpha"))
    fill(client.create_repo(f"{org.name}/beta"))
    alpha = client.get_repo_object(f"{org.name}/alpha").prefix
    beta = client.get_repo_object(f"{org.name}/beta").prefix

    info = open_info(org, "alpha", org.token, "write")
    creds = info["repo_credentials"]
    assert creds["aws_session_token"] and creds["expiration"]
    s3 = seaweed.s3_with(creds)
    some_alpha_key = seaweed.keys(s3_bucket, alpha + "/")[0]
    some_beta_key = seaweed.keys(s3_bucket, beta + "/")[0]
    s3.get_object(Bucket=s3_bucket, Key=some_alpha_key)
    s3.put_object(Bucket=s3_bucket, Key=f"{alpha}/probe", Body=b"ok")
    s3.delete_object(Bucket=s3_bucket, Key=f"{alpha}/probe")
    assert denied(lambda: s3.get_object(Bucket=s3_bucket, Key=some_beta_key))
    assert denied(lambda: s3.put_object(Bucket=s3_bucket, Key=f"{beta}/intruder", Body=b"x"))
    assert denied(lambda: s3.list_objects_v2(Bucket=s3_bucket, Prefix=beta + "/"))
    # the role's own keys never leave the service, not even to the org's admin
    bucket = client.get_bucket_config(org=org.name, nickname="vended")
    assert bucket.auth_config.secret_access_key.get_secret_value() == "********"  # type: ignore[union-attr]
    assert "vendor-secret" not in json.dumps(info)


def test_a_reader_can_read_but_not_commit(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, admin = sts_org(service, seaweed, s3_bucket)
    fill(admin.create_repo(f"{org.name}/shared"), 2.0)
    reader_token = admin.create_api_client(org.name, "reader", role=OrgRole.REPO_READER).token.token
    reader = Client(org.url, token=reader_token.get_secret_value())

    repo = reader.get_repo(f"{org.name}/shared")
    values = zarr.open_group(repo.readonly_session("main").store, mode="r")["x"][:]
    np.testing.assert_array_equal(values, np.full(64, 2.0))
    with pytest.raises(icechunk.IcechunkError):
        fill(repo, 3.0)
    write = httpx.get(
        f"{org.url}/repos/{org.name}/shared/open",
        params={"access": "write"},
        headers={"authorization": f"Bearer {reader_token.get_secret_value()}"},
    )
    assert write.status_code == 403 and "may not write to repo" in write.json()["detail"]
    # the commit did not land
    again = admin.get_repo(f"{org.name}/shared")
    assert next(iter(again.ancestry(branch="main"))).message == "fill 2.0"


def test_expired_credentials_are_refused_and_sessions_refresh(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    # No DurationSeconds: the store's own (short) session length applies.
    org, client = sts_org(service, seaweed, s3_bucket, duration_seconds=None)
    repo = client.create_repo(f"{org.name}/long-running")
    fill(repo, 1.0)
    prefix = client.get_repo_object(f"{org.name}/long-running").prefix
    first = open_info(org, "long-running", org.token, "write")["repo_credentials"]
    key = seaweed.keys(s3_bucket, prefix + "/")[0]
    seaweed.s3_with(first).get_object(Bucket=s3_bucket, Key=key)

    session_repo = client.get_repo(f"{org.name}/long-running")
    time.sleep(36)  # past the 30 s session lifetime
    assert denied(lambda: seaweed.s3_with(first).get_object(Bucket=s3_bucket, Key=key))
    # the same repo object keeps working: icechunk asks the client's provider for fresh credentials
    fill(session_repo, 5.0)
    values = zarr.open_group(session_repo.readonly_session("main").store, mode="r")["x"][:]
    np.testing.assert_array_equal(values, np.full(64, 5.0))


def test_a_dask_write_asks_for_credentials_once(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, tmp_path: Path
) -> None:
    from distributed import Client as DaskClient
    from distributed import LocalCluster
    from icechunk.xarray import to_icechunk

    org, client = sts_org(service, seaweed, s3_bucket)
    log_start = len(service.log_text())
    client.create_repo(f"{org.name}/dask")
    prefix = client.get_repo_object(f"{org.name}/dask").prefix
    log_before = service.log_text()
    repo = client.get_repo(f"{org.name}/dask")
    ds = xr.Dataset({"t": (("time", "x"), np.random.default_rng(1).random((100, 50)))}).chunk({"time": 1})
    assert ds.t.data.npartitions == 100
    cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None)
    with cluster, DaskClient(cluster):
        session = repo.writable_session("main")
        to_icechunk(ds, session)
        session.commit("100 tasks")
    back = xr.open_zarr(
        client.get_repo(f"{org.name}/dask").readonly_session("main").store, consolidated=False
    )
    xr.testing.assert_equal(back.load(), ds.load())

    new_log = service.log_text()[len(log_before) :]
    lines = [json.loads(line) for line in new_log.splitlines() if line.startswith("{")]
    requests = [
        line["path"]
        for line in lines
        if line.get("event") == "request" and line.get("path", "").startswith(f"/repos/{org.name}/dask/")
    ]
    credential_requests = [p for p in requests if p.endswith(("/open", "/bucket-credentials"))]
    everything = [
        json.loads(line) for line in service.log_text()[log_start:].splitlines() if line.startswith("{")
    ]
    sts_sessions = [
        line
        for line in everything
        if line.get("event") == "sts session issued"
        and line["prefix"] == prefix
        and line["principal"] != "arraylake-service"
    ]
    # two get_repo calls (the write, then the check): one credential request each, none from the workers
    assert len(credential_requests) == 2, requests
    # and one STS session for (this principal, this repo, write) from creation to the end
    assert [s["access"] for s in sts_sessions] == ["write"], sts_sessions
    (tmp_path / "dask-credentials.json").write_text(
        json.dumps({"credential_requests": len(credential_requests), "sts_sessions": len(sts_sessions)})
    )


def test_sts_failures_are_clear(service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str) -> None:
    org = service.new_org("sts-bad", local_bucket=False)
    client = Client(org.url, token=org.token)
    down = seaweed.sts_bucket_config(s3_bucket, sts_endpoint_url="http://127.0.0.1:9")
    client.create_bucket_config(org=org.name, nickname="sts-down", **down)
    # registered without touching storage (register mode), so only /open meets the dead STS endpoint
    with httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}) as http:
        made = http.post(
            f"/orgs/{org.name}/repos", json={"name": "unreachable", "bucket_nickname": "sts-down"}
        )
        assert made.status_code == 201
        answer = http.get(f"/repos/{org.name}/unreachable/open")
        assert answer.status_code == 502 and "'sts-down'" in answer.json()["detail"]
        assert "vendor-secret" not in answer.text

    wrong_role = seaweed.sts_bucket_config(s3_bucket, role_arn="arn:aws:iam::000000000000:role/NoSuchRole")
    client.create_bucket_config(org=org.name, nickname="sts-refused", **wrong_role)
    started = time.monotonic()
    with pytest.raises(
        ArraylakeServerError, match="STS refused to issue credentials for bucket config 'sts-refused'"
    ):
        client.create_repo(f"{org.name}/refused", bucket_config_nickname="sts-refused")
    assert time.monotonic() - started < 10  # a refusal is not retried for minutes
    assert client.list_repos(org.name) == [client.get_repo_object(f"{org.name}/unreachable")]


def test_no_credentials_for_a_repo_being_deleted(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, client = sts_org(service, seaweed, s3_bucket)
    client.create_repo(f"{org.name}/leaving")
    client.delete_repo(f"{org.name}/leaving", imsure=True, imreallysure=True, immediate=False)
    headers = {"authorization": f"Bearer {org.token}"}
    for path in ("open", "bucket-credentials"):
        answer = httpx.get(f"{org.url}/repos/{org.name}/leaving/{path}", headers=headers)
        assert answer.status_code == 404 and "not found" in answer.json()["detail"]
