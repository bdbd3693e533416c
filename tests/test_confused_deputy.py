"""The service is no confused deputy: org A cannot make it assume org B's AWS role.

Two orgs, one role. Org B's role trusts the service's identity only with B's external id (AWS's trust-policy
check, stood in front of SeaweedFS's STS: ``tests/support/sts_trust.py``). The service generates each org's
external id and always sends the org's own, so org A naming B's account, role and bucket gets nothing,
whether it omits the external id or sends B's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.exceptions import ArraylakeValidationError
from arraylake.types import OrgRole
from tests.conftest import make_service
from tests.support.seaweed import ROLE_ARN, VENDOR_KEY, VENDOR_SECRET, SeaweedFS
from tests.support.service import ArraylakeService, Org
from tests.support.sts_trust import TrustPolicySts
from tests.test_credential_vending import fill

ACCOUNT, ROLE_NAME = ROLE_ARN.removeprefix("arn:aws:iam::").split(":role/")


@pytest.fixture
def trust(seaweed: SeaweedFS) -> Iterator[TrustPolicySts]:
    with TrustPolicySts(seaweed.endpoint) as stand_in:
        yield stand_in


@pytest.fixture
def aws_service(
    request: pytest.FixtureRequest, tmp_path: Path, seaweed: SeaweedFS, trust: TrustPolicySts
) -> Iterator[ArraylakeService]:
    env = {
        "ARRAYLAKE_SERVER_AWS_STS_ENDPOINT_URL": trust.url,
        "AWS_ACCESS_KEY_ID": VENDOR_KEY,
        "AWS_SECRET_ACCESS_KEY": VENDOR_SECRET,
        "AWS_DEFAULT_REGION": seaweed.region,
    }
    service = make_service(tmp_path, "sqlite", request, env)
    service.start()
    yield service
    service.stop()


def role_config(seaweed: SeaweedFS, bucket: str, **auth: str) -> dict:
    config = seaweed.bucket_config(bucket)
    config["auth_config"] = {
        "method": "aws_customer_managed_role",
        "external_customer_id": ACCOUNT,
        "external_role_name": ROLE_NAME,
        **auth,
    }
    return config


def http(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=60)


def test_another_org_cannot_use_a_role_bound_to_its_owner(
    aws_service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str, trust: TrustPolicySts
) -> None:
    owner, attacker = aws_service.new_org("owner", local_bucket=False), aws_service.new_org("attacker")
    owner_client, attacker_client = (
        Client(owner.url, token=owner.token),
        Client(owner.url, token=attacker.token),
    )

    # The owner binds its role to its org: the trust policy requires the org's external id.
    owner_binding = owner_client.get_storage_binding(owner.name)
    assert owner_binding.aws_external_id != attacker_client.get_storage_binding(attacker.name).aws_external_id
    trust.required_external_ids[ROLE_ARN] = owner_binding.aws_external_id
    made = owner_client.create_bucket_config(
        org=owner.name, nickname="mine", **role_config(seaweed, s3_bucket)
    )
    assert made.auth_config.shared_secret.get_secret_value() == owner_binding.aws_external_id  # admins see it
    owner_client.set_default_bucket_config(org=owner.name, nickname="mine")
    fill(owner_client.create_repo(f"{owner.name}/precious"), 7.0)
    precious = owner_client.get_repo_object(f"{owner.name}/precious").prefix
    before = sorted(seaweed.keys(s3_bucket, precious + "/"))
    assert before

    # The attacker names the same account, role and bucket.
    attacker_binding = attacker_client.get_storage_binding(attacker.name).aws_external_id
    attacker_client.create_bucket_config(
        org=attacker.name, nickname="theirs", **role_config(seaweed, s3_bucket)
    )
    asked_before = len(trust.seen)
    with http(attacker) as h:
        bucket_id = h.get(f"/orgs/{attacker.name}/buckets", params={"nickname": "theirs"}).json()[0]["id"]
        for access in ("read", "write"):
            answer = h.get(
                f"/orgs/{attacker.name}/buckets/{bucket_id}/credentials", params={"access": access}
            )
            assert answer.status_code == 502, answer.text
            assert "access denied" in answer.json()["detail"] and answer.headers["x-arraylake-retry"] == "no"
            assert "aws_access_key_id" not in answer.text
        registered = h.post(
            f"/orgs/{attacker.name}/repos", json={"name": "heist", "bucket_nickname": "theirs"}
        )
        assert registered.status_code == 201, registered.text
        opened = h.get(f"/repos/{attacker.name}/heist/open")
        assert opened.status_code == 502 and "aws_session_token" not in opened.text
    sent = [f.get("ExternalId") for f in trust.seen[asked_before:] if f.get("Action") == "AssumeRole"]
    assert sent and set(sent) == {attacker_binding}, "every request carried the attacker org's own id"

    # Knowing the owner's external id does not help: the attacker cannot choose the one that is sent.
    leaked = {"shared_secret": owner_binding.aws_external_id}
    with pytest.raises(ArraylakeValidationError, match="generated by the service"):
        attacker_client.create_bucket_config(
            org=attacker.name, nickname="leaked", **role_config(seaweed, s3_bucket, **leaked)
        )
    with http(attacker) as h:
        changed = h.patch(
            f"/orgs/{attacker.name}/buckets/{bucket_id}",
            json={"auth_config": role_config(seaweed, s3_bucket, **leaked)["auth_config"]},
        )
        assert changed.status_code == 422 and "generated by the service" in changed.json()["detail"]

    assert sorted(seaweed.keys(s3_bucket, precious + "/")) == before
    store = owner_client.get_repo(f"{owner.name}/precious").readonly_session("main").store
    np.testing.assert_array_equal(zarr.open_group(store, mode="r")["x"][:], np.full(64, 7.0))


def test_the_external_id_is_the_orgs_own_and_shown_to_admins_only(
    aws_service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = aws_service.new_org("ext", local_bucket=False)
    admin = Client(org.url, token=org.token)
    binding = admin.get_storage_binding(org.name)
    assert len(binding.aws_external_id) == 32 and binding.gcs_bucket_label.endswith(binding.aws_external_id)
    # Repeating the org's own id is accepted (the published client requires a shared_secret).
    admin.create_bucket_config(
        org=org.name,
        nickname="repeated",
        **role_config(seaweed, s3_bucket, shared_secret=binding.aws_external_id),
    )
    reader_token = admin.create_api_client(org.name, "reader", role=OrgRole.REPO_READER).token.token
    reader = Client(org.url, token=reader_token.get_secret_value())
    seen = reader.get_bucket_config(org=org.name, nickname="repeated").auth_config
    assert seen.shared_secret.get_secret_value() != binding.aws_external_id
    with http(Org(org.name, reader_token.get_secret_value(), aws_service)) as h:
        assert h.get(f"/orgs/{org.name}/storage-binding").status_code == 403
