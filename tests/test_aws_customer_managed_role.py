"""``aws_customer_managed_role`` end to end: the service assumes the customer's role with its own AWS
identity at the STS endpoint of its settings (SeaweedFS's here), narrowing each session to one repo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.types import OrgRole
from tests.conftest import make_service
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService
from tests.test_credential_vending import denied, fill, open_info


@pytest.fixture
def aws_service(
    request: pytest.FixtureRequest, tmp_path: Path, seaweed: SeaweedFS
) -> Iterator[ArraylakeService]:
    """A service whose own AWS identity (the standard AWS variables) may assume the customer's role."""
    env = seaweed.service_identity_env(seaweed.endpoint)
    service = make_service(tmp_path, "sqlite", request, env)
    service.start()
    yield service
    service.stop()


def test_sessions_of_the_customer_role_reach_one_repo(
    aws_service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = aws_service.new_org("aws", local_bucket=False)
    admin = Client(org.url, token=org.token)
    config = seaweed.customer_role_config(s3_bucket)
    admin.create_bucket_config(org=org.name, nickname="customer", **config)
    admin.set_default_bucket_config(org=org.name, nickname="customer")
    fill(admin.create_repo(f"{org.name}/alpha"), 1.0)
    fill(admin.create_repo(f"{org.name}/beta"), 2.0)
    alpha = admin.get_repo_object(f"{org.name}/alpha").prefix
    beta = admin.get_repo_object(f"{org.name}/beta").prefix

    creds = open_info(org, "alpha", org.token, "write")["repo_credentials"]
    assert creds["aws_session_token"] and creds["expiration"]
    s3 = seaweed.s3_with(creds)
    s3.put_object(Bucket=s3_bucket, Key=f"{alpha}/probe", Body=b"ok")
    s3.delete_object(Bucket=s3_bucket, Key=f"{alpha}/probe")
    assert denied(lambda: s3.get_object(Bucket=s3_bucket, Key=seaweed.keys(s3_bucket, beta + "/")[0]))

    reader_token = admin.create_api_client(org.name, "reader", role=OrgRole.REPO_READER).token.token
    reader = Client(org.url, token=reader_token.get_secret_value())
    read_creds = open_info(org, "beta", reader_token.get_secret_value())["repo_credentials"]
    assert denied(
        lambda: seaweed.s3_with(read_creds).put_object(Bucket=s3_bucket, Key=f"{beta}/x", Body=b"x")
    )
    opened = reader.get_repo(f"{org.name}/beta")
    values = zarr.open_group(opened.readonly_session("main").store, mode="r")["x"][:]
    np.testing.assert_array_equal(values, np.full(64, 2.0))
