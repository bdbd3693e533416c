"""Virtual chunks read through container credentials, as far as the org's access policy allows.

A repo declares two virtual chunk containers: one in a bucket the org authorized, one in a private bucket.
A reader opening the repo gets credentials for the first only, so the second stays out of reach.
"""

from __future__ import annotations

import httpx
import icechunk
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.storage import container_store_config
from arraylake.types import OrgRole
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService

VALUES = np.arange(8, dtype="f8")
SECRET = np.full(8, 42.0)


def test_virtual_chunks_follow_the_org_policy(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    sources = seaweed.create_bucket(f"vsrc-{s3_bucket[4:]}")
    private = seaweed.create_bucket(f"priv-{s3_bucket[4:]}")
    admin_s3 = seaweed.s3()
    admin_s3.put_object(Bucket=sources, Key="files/data.bin", Body=VALUES.tobytes())
    admin_s3.put_object(Bucket=private, Key="secret.bin", Body=SECRET.tobytes())

    org = service.new_org("vcc", local_bucket=False)
    admin = Client(org.url, token=org.token)
    admin.create_bucket_config(org=org.name, nickname="store", **seaweed.sts_bucket_config(s3_bucket))
    admin.set_default_bucket_config(org=org.name, nickname="store")
    admin.create_bucket_config(org=org.name, nickname="sources", **seaweed.sts_bucket_config(sources))
    admin.create_bucket_config(org=org.name, nickname="private", **seaweed.sts_bucket_config(private))
    hmac = admin.create_bucket_config(org=org.name, nickname="hmac-src", **seaweed.bucket_config(sources))

    headers = {"authorization": f"Bearer {org.token}"}
    policies = f"{org.url}/orgs/{org.name}/settings/virtual-chunk-access-policies"
    sources_id = str(admin.get_bucket_config(org=org.name, nickname="sources").id)
    granted = httpx.put(policies, json={"bucket_id": sources_id, "subprefix": "files"}, headers=headers)
    assert granted.status_code == 200 and granted.json()["url_prefix"] == f"s3://{sources}/files/"
    refused = httpx.put(policies, json={"bucket_id": str(hmac.id)}, headers=headers)
    assert refused.status_code == 422 and "cannot be limited to a prefix" in refused.json()["detail"]
    assert [p["bucket_id"] for p in httpx.get(policies, headers=headers).json()["items"]] == [sources_id]

    # a repo with two containers; the writer authorizes both (it may read both buckets itself)
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
    root = zarr.group(session.store)
    for name in ("public", "secret"):
        root.create_array(name, shape=(8,), chunks=(8,), dtype="f8", compressors=None, fill_value=0)
    session.store.set_virtual_ref("public/c/0", f"{public_url}data.bin", offset=0, length=64)
    session.store.set_virtual_ref("secret/c/0", f"{private_url}secret.bin", offset=0, length=64)
    session.commit("virtual references")

    # a reader: credentials for the authorized container only
    reader_token = admin.create_api_client(
        org.name, "reader", role=OrgRole.REPO_READER
    ).token.token.get_secret_value()
    info = httpx.get(
        f"{org.url}/repos/{org.name}/mixed/open", headers={"authorization": f"Bearer {reader_token}"}
    )
    assert list(info.json()["virtual_chunk_credentials"]) == [public_url]
    assert info.json()["virtual_chunk_credentials"][public_url]["credentials"]["aws_session_token"]

    reader = Client(org.url, token=reader_token)
    opened = reader.get_repo(f"{org.name}/mixed")
    group = zarr.open_group(opened.readonly_session("main").store, mode="r")
    np.testing.assert_array_equal(group["public"][:], VALUES)
    with pytest.raises(Exception, match=r"(?i)virtual|authoriz|credential|denied|403"):
        group["secret"][:]

    # the credentials handed out reach the authorized sub-prefix and nothing else
    creds = info.json()["virtual_chunk_credentials"][public_url]["credentials"]
    s3 = seaweed.s3_with(creds)
    assert s3.get_object(Bucket=sources, Key="files/data.bin")["Body"].read() == VALUES.tobytes()
    with pytest.raises(Exception, match="AccessDenied"):
        s3.get_object(Bucket=private, Key="secret.bin")

    # Explicit container credentials from a bucket config whose HMAC keys a reader does not see (masked in
    # its listing): they come from the service, and they read the chunks.
    masked = reader.get_bucket_config(org=org.name, nickname="hmac-src").auth_config
    assert masked.secret_access_key.get_secret_value() == "********"
    explicit = reader.containers_credentials_for_buckets(org.name, {public_url: "hmac-src"})
    direct = icechunk.Repository.open(
        reader.get_icechunk_storage(f"{org.name}/mixed"), authorize_virtual_chunk_access=explicit
    )
    group = zarr.open_group(direct.readonly_session("main").store, mode="r")
    np.testing.assert_array_equal(group["public"][:], VALUES)

    # withdrawing the policy withdraws the credentials (after the service's short config cache)
    gone = httpx.request(
        "DELETE", policies, json={"bucket_id": sources_id, "subprefix": "files"}, headers=headers
    )
    assert gone.status_code == 204
    again = httpx.get(
        f"{org.url}/repos/{org.name}/mixed/open", headers={"authorization": f"Bearer {reader_token}"}
    )
    assert again.json()["virtual_chunk_credentials"] == {}


def test_policy_input_is_checked(service: ArraylakeService) -> None:
    org = service.new_org("vcc-bad")
    headers = {"authorization": f"Bearer {org.token}"}
    policies = f"{org.url}/orgs/{org.name}/settings/virtual-chunk-access-policies"
    unknown = httpx.put(policies, json={"bucket_id": "00000000-0000-0000-0000-000000000000"}, headers=headers)
    assert unknown.status_code == 404
    local_id = str(Client(org.url, token=org.token).get_bucket_config(org=org.name, nickname="local").id)
    escape = httpx.put(policies, json={"bucket_id": local_id, "subprefix": "../other"}, headers=headers)
    assert escape.status_code == 422
    missing = httpx.request("DELETE", policies, json={"bucket_id": local_id}, headers=headers)
    assert missing.status_code == 404


def test_named_containers_keep_their_names(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    """Chunks stored relative to a named container (``vcc://name/...``) read back through the credentials
    the service hands out, which carry the container's name."""
    sources = seaweed.create_bucket(f"vnam-{s3_bucket[4:]}")
    seaweed.s3().put_object(Bucket=sources, Key="files/data.bin", Body=VALUES.tobytes())
    org = service.new_org("vccname", local_bucket=False)
    admin = Client(org.url, token=org.token)
    admin.create_bucket_config(org=org.name, nickname="store", **seaweed.sts_bucket_config(s3_bucket))
    admin.set_default_bucket_config(org=org.name, nickname="store")
    bucket = admin.create_bucket_config(
        org=org.name, nickname="sources", **seaweed.sts_bucket_config(sources)
    )
    headers = {"authorization": f"Bearer {org.token}"}
    policies = f"{org.url}/orgs/{org.name}/settings/virtual-chunk-access-policies"
    granted = httpx.put(policies, json={"bucket_id": str(bucket.id), "subprefix": "files"}, headers=headers)
    assert granted.status_code == 200

    url = f"s3://{sources}/files/"
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(url, container_store_config(bucket), name="era")
    )
    repo = admin.create_repo(f"{org.name}/named", config=config, virtual_container_nicknames={url: "sources"})
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    root.create_array("public", shape=(8,), chunks=(8,), dtype="f8", compressors=None, fill_value=0)
    session.store.set_virtual_ref("public/c/0", "vcc://era/data.bin", offset=0, length=64)
    session.commit("a relative virtual reference")

    reader_token = admin.create_api_client(
        org.name, "reader", role=OrgRole.REPO_READER
    ).token.token.get_secret_value()
    info = httpx.get(
        f"{org.url}/repos/{org.name}/named/open", headers={"authorization": f"Bearer {reader_token}"}
    )
    assert info.json()["virtual_chunk_credentials"][url]["runtime_vcc_name"] == "era"
    opened = Client(org.url, token=reader_token).get_repo(f"{org.name}/named")
    group = zarr.open_group(opened.readonly_session("main").store, mode="r")
    np.testing.assert_array_equal(group["public"][:], VALUES)
