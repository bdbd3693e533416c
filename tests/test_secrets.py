"""Tokens and bucket secrets never reach a log, an error message or the database in clear."""

from __future__ import annotations

import httpx

from arraylake import Client
from tests.support.seaweed import ADMIN_SECRET, VENDOR_SECRET, SeaweedFS
from tests.support.service import ArraylakeService


def test_no_secret_in_logs_or_database(
    fresh_service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    fresh_service.start()
    org = fresh_service.new_org()
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="private", **seaweed.bucket_config(s3_bucket))
    client.create_repo(f"{org.name}/secretive", bucket_config_nickname="private")
    external_id = "customer-chosen-external-id-4711"
    client.create_bucket_config(
        org=org.name, nickname="vended", **seaweed.sts_bucket_config(s3_bucket, external_id=external_id)
    )
    client.create_repo(f"{org.name}/vended", bucket_config_nickname="vended")
    session = httpx.get(
        f"{org.url}/repos/{org.name}/vended/open", headers={"authorization": f"Bearer {org.token}"}
    ).json()["repo_credentials"]
    # the token travels in a query string on this endpoint: it must not be logged either
    httpx.get(f"{org.url}/orgs/{org.name}/api-clients/authenticate", params={"token": org.token})
    bad = httpx.get(f"{org.url}/user", headers={"authorization": f"Bearer {org.token}x"})
    assert bad.status_code == 401 and org.token not in bad.text
    fresh_service.stop()

    log = fresh_service.log_text()
    assert "GET" in log and "/orgs/" in log  # the log is there and has requests in it
    assert org.token not in log and org.token[4:] not in log
    assert ADMIN_SECRET not in log and VENDOR_SECRET not in log
    assert session["aws_secret_access_key"] not in log and session["aws_session_token"] not in log
    for path in fresh_service.data_dir.glob("catalog.db*"):
        data = path.read_bytes()
        assert ADMIN_SECRET.encode() not in data, path
        assert VENDOR_SECRET.encode() not in data, path
        assert org.token.encode() not in data, path
        assert external_id.encode() not in data, path
