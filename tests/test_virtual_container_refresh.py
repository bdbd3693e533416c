"""Refreshing one virtual chunk container's credentials, and what activating a new repo answers.

``GET /repos/{org}/{repo}/virtual-chunk-credentials?url_prefix=...`` answers what ``/open`` answers for that
container, to whoever may read the repo, and nothing for a container the org's policies do not cover.
``POST /orgs/{org}/{repo}/activate`` answers the same container credentials as ``/open``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import icechunk
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.server.buckets.service import BucketCodec
from arraylake.server.sealing import SecretBox, new_key
from arraylake.server.settings import ServerSettings
from arraylake.storage import container_store_config
from arraylake.types import AuthMethod, OrgRole, utcnow
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org

VALUES = np.arange(8, dtype="f8")
REFRESH = "/repos/{org}/{repo}/virtual-chunk-credentials"


def headers(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def refresh(org: Org, repo: str, token: str, url_prefix: str | None) -> httpx.Response:
    params = {} if url_prefix is None else {"url_prefix": url_prefix}
    return httpx.get(org.url + REFRESH.format(org=org.name, repo=repo), params=params, headers=headers(token))


def new_client(org: Org, role: str) -> str:
    made = httpx.post(
        f"{org.url}/orgs/{org.name}/api-clients",
        json={"name": f"{role}-{uuid.uuid4().hex[:6]}", "role": role},
        headers=headers(org.token),
    )
    assert made.status_code == 201, made.text
    return str(made.json()["token"]["token"])


def test_a_container_refreshes_as_open_hands_it_out(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    sources = seaweed.create_bucket(f"vsrc-{s3_bucket[4:]}")
    private = seaweed.create_bucket(f"priv-{s3_bucket[4:]}")
    seaweed.s3().put_object(Bucket=sources, Key="files/data.bin", Body=VALUES.tobytes())
    org = service.new_org("vcc-refresh", local_bucket=False)
    admin = Client(org.url, token=org.token)
    admin.create_bucket_config(org=org.name, nickname="store", **seaweed.sts_bucket_config(s3_bucket))
    admin.set_default_bucket_config(org=org.name, nickname="store")
    admin.create_bucket_config(org=org.name, nickname="sources", **seaweed.sts_bucket_config(sources))
    admin.create_bucket_config(org=org.name, nickname="private", **seaweed.sts_bucket_config(private))
    sources_id = str(admin.get_bucket_config(org=org.name, nickname="sources").id)
    granted = httpx.put(
        f"{org.url}/orgs/{org.name}/settings/virtual-chunk-access-policies",
        json={"bucket_id": sources_id, "subprefix": "files"},
        headers=headers(org.token),
    )
    assert granted.status_code == 200

    public_url, private_url = f"s3://{sources}/files/", f"s3://{private}/"
    config = icechunk.RepositoryConfig.default()
    for url, nickname in ((public_url, "sources"), (private_url, "private")):
        bucket = admin.get_bucket_config(org=org.name, nickname=nickname)
        config.set_virtual_chunk_container(
            icechunk.VirtualChunkContainer(url, container_store_config(bucket))
        )
    repo = admin.create_repo(
        f"{org.name}/mixed",
        config=config,
        virtual_container_nicknames={public_url: "sources", private_url: "private"},
    )
    session = repo.writable_session("main")
    zarr.group(session.store).create_array(
        "v", shape=(8,), chunks=(8,), dtype="f8", compressors=None, fill_value=0
    )
    session.commit("nothing virtual yet")

    reader = new_client(org, OrgRole.REPO_READER.value)
    opened = httpx.get(f"{org.url}/repos/{org.name}/mixed/open", headers=headers(reader))
    assert opened.status_code == 200
    handed_out = opened.json()["virtual_chunk_credentials"]
    assert list(handed_out) == [public_url]

    fresh = refresh(org, "mixed", reader, public_url)
    assert fresh.status_code == 200, fresh.text
    assert fresh.json() == handed_out[public_url]
    s3 = seaweed.s3_with(fresh.json()["credentials"])
    assert s3.get_object(Bucket=sources, Key="files/data.bin")["Body"].read() == VALUES.tobytes()
    with pytest.raises(Exception, match="AccessDenied"):
        s3.get_object(Bucket=private, Key="files/data.bin")

    # The repo declares the private container, but no policy covers it: nothing to refresh.
    refused = refresh(org, "mixed", reader, private_url)
    assert refused.status_code == 404
    assert private_url in refused.json()["detail"] and "virtual chunk" in refused.json()["detail"]


@pytest.fixture
def vault(org: Org) -> dict[str, Any]:
    """A local bucket config the org's policy lets virtual chunks be read from, with its URL prefix."""
    return authorized_bucket(org, "vault", authorize=True)


def authorized_bucket(org: Org, nickname: str, *, authorize: bool) -> dict[str, Any]:
    body = {"nickname": nickname, "platform": "local", "name": f"{nickname}-{uuid.uuid4().hex[:6]}"}
    made = httpx.post(f"{org.url}/orgs/{org.name}/buckets", json=body, headers=headers(org.token))
    assert made.status_code == 201, made.text
    bucket = made.json()
    bucket["url_prefix"] = f"file://{bucket['extra_config']['local_path']}/"
    if authorize:
        policy = httpx.put(
            f"{org.url}/orgs/{org.name}/settings/virtual-chunk-access-policies",
            json={"bucket_id": bucket["id"]},
            headers=headers(org.token),
        )
        assert policy.status_code == 200 and policy.json()["url_prefix"] == bucket["url_prefix"]
    return bucket


def repo_with_containers(org: Org, name: str, containers: list[dict[str, Any]], *, activate: bool) -> Any:
    """A repo made in ``create`` mode whose Icechunk config declares ``containers``; the activation's
    answer if ``activate``."""
    created = httpx.post(
        f"{org.url}/orgs/{org.name}/repos",
        json={"name": name, "create_mode": "create"},
        headers=headers(org.token),
    )
    assert created.status_code == 201, created.text
    repo = created.json()
    config = icechunk.RepositoryConfig.default()
    for bucket in containers:
        store = icechunk.local_filesystem_store(bucket["extra_config"]["local_path"])
        config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(bucket["url_prefix"], store))
    path = f"{repo['bucket']['extra_config']['local_path']}/{repo['prefix']}"
    icechunk.Repository.create(icechunk.local_filesystem_storage(path), config=config)
    activated = httpx.post(f"{org.url}/orgs/{org.name}/{name}/activate", headers=headers(org.token))
    assert activated.status_code == 200, activated.text
    return activated.json()


def test_activate_answers_the_container_credentials_of_open(org: Org, vault: dict[str, Any]) -> None:
    attic = authorized_bucket(org, "attic", authorize=False)
    activated = repo_with_containers(org, "fresh", [vault, attic], activate=True)
    opened = httpx.get(f"{org.url}/repos/{org.name}/fresh/open", headers=headers(org.token)).json()
    assert activated["virtual_chunk_credentials"] == opened["virtual_chunk_credentials"]
    assert activated["virtual_chunk_credentials"] == {
        vault["url_prefix"]: {
            "credentials": None,
            "org": org.name,
            "bucket_nickname": "vault",
            "platform": "local",
            "runtime_vcc_name": None,
            "region": None,
            "endpoint_url": None,
            "allow_http": activated["virtual_chunk_credentials"][vault["url_prefix"]]["allow_http"],
            "force_path_style": False,
        }
    }
    # The rest of the answer is /open's too.
    assert {k: v for k, v in activated.items() if k != "repo_credentials"} == {
        k: v for k, v in opened.items() if k != "repo_credentials"
    }


def test_refresh_answers_only_readers_and_covered_containers(org: Org, vault: dict[str, Any]) -> None:
    attic = authorized_bucket(org, "attic", authorize=False)
    repo_with_containers(org, "pair", [vault, attic], activate=True)
    reader = new_client(org, "repo_reader")
    opened = httpx.get(f"{org.url}/repos/{org.name}/pair/open", headers=headers(reader)).json()

    ok = refresh(org, "pair", reader, vault["url_prefix"])
    assert ok.status_code == 200, ok.text
    assert ok.json() == opened["virtual_chunk_credentials"][vault["url_prefix"]]

    # not covered by a policy, not declared by the repo, or the same prefix spelled otherwise: 404
    for missing in (attic["url_prefix"], "s3://elsewhere/data/", vault["url_prefix"].rstrip("/")):
        answer = refresh(org, "pair", reader, missing)
        assert answer.status_code == 404, (missing, answer.text)
        assert "not a virtual chunk container" in answer.json()["detail"]
    # malformed or absent prefix: 422
    for malformed in ("vault/data", "", "s3://has space/", "x" * 3000):
        assert refresh(org, "pair", reader, malformed).status_code == 422, malformed
    assert refresh(org, "pair", reader, None).status_code == 422

    # authorization as for /open: a member without read 403, outsiders and unknown repos 404, no token 401
    member = new_client(org, "member")
    assert refresh(org, "pair", member, vault["url_prefix"]).status_code == 403
    outsider = org.service.new_org("vcc-outsider")
    assert refresh(org, "pair", outsider.token, vault["url_prefix"]).status_code == 404
    assert refresh(org, "nothing-here", reader, vault["url_prefix"]).status_code == 404
    anonymous = httpx.get(
        org.url + REFRESH.format(org=org.name, repo="pair"), params={"url_prefix": vault["url_prefix"]}
    )
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    "auth",
    [
        {"method": "anonymous"},
        {"method": "hmac", "access_key_id": "AKID", "secret_access_key": "hmac-secret"},
        {
            "method": "sts_assume_role",
            "role_arn": "arn:aws:iam::123456789012:role/r",
            "access_key_id": "AKID",
            "secret_access_key": "sts-secret",
            "external_id": "ext-id",
        },
        {
            "method": "aws_customer_managed_role",
            "external_customer_id": "123456789012",
            "external_role_name": "role",
            "shared_secret": "org-binding",
        },
    ],
)
@pytest.mark.parametrize("reveal", [True, False])
def test_a_bucket_opened_once_shows_as_to_wire_would(
    tmp_path: Path, auth: dict[str, Any], reveal: bool
) -> None:
    """``/open`` decrypts its bucket once and masks the caller's copy from it: the same as decoding twice."""
    settings = ServerSettings(data_dir=tmp_path / "data")
    codec = BucketCodec(settings, SecretBox([new_key()]))
    now = utcnow()
    row = SimpleNamespace(
        id=str(uuid.uuid4()),
        nickname="b",
        platform="s3",
        name="bucket",
        prefix="p",
        extra_config={},
        created=now,
        updated=now,
        created_by="someone",
        auth_config=codec.seal_auth(codec.open_auth(auth, internal=True)),
    )
    for default in (row.id, None):
        expected = codec.to_wire(row, default_bucket_id=default, org_name="o", reveal_secrets=reveal)
        opened = codec.to_wire(row, default_bucket_id=None, org_name="o", internal=True)
        shown = codec.shown(opened, default_bucket_id=default, reveal_secrets=reveal)
        assert shown.model_dump(mode="json") == expected.model_dump(mode="json")
        assert AuthMethod(shown.auth_method) == AuthMethod(auth["method"])
