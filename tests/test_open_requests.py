"""What opening a repo asks of the service: one ``/open``, and virtual chunk credentials from their own route.

Requests are counted in the service's own request log, against a real service.
"""

from __future__ import annotations

import json
import uuid

import httpx
import icechunk
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.client import storage_credentials
from arraylake.storage import container_store_config
from arraylake.types import OrgRole
from tests.support.processes import wait_until
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org

VALUES = np.arange(8, dtype="f8")


def requested_paths(service: ArraylakeService, since: int, including: str | None = None) -> list[str]:
    """The paths the service logged requests for, after the first ``since`` characters of its log; with
    ``including``, once that path is among them (the service logs a request after answering it, so the
    line can arrive a moment after the client has its answer)."""

    def paths() -> list[str]:
        lines = service.log_text()[since:].splitlines()
        events = [json.loads(line) for line in lines if line.startswith("{") and line.endswith("}")]
        return [event["path"] for event in events if event.get("event") == "request"]

    if including is not None:
        wait_until(lambda: including in paths(), 10, f"the service to log a request for {including}")
    return paths()


def test_get_or_create_repo_opens_an_existing_repo_with_one_open_request(
    service: ArraylakeService, org: Org
) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/existing"
    client.create_repo(name)
    before = len(service.log_text())

    repo = client.get_or_create_repo(name)

    assert repo.list_branches() == {"main"}
    logged = requested_paths(service, before, including=f"/repos/{name}/open")
    opened = [path for path in logged if path.endswith("/open")]
    assert opened == [f"/repos/{name}/open"]


def org_with_a_granted_container(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> tuple[Org, Client, icechunk.RepositoryConfig, str]:
    """An org storing repos with STS credentials, whose policy lets its repos read a container of virtual
    chunks; its admin client, a repo config naming that container ``sources`` and the container's URL."""
    sources = seaweed.create_bucket(f"vsrc-{uuid.uuid4().hex[:10]}")
    seaweed.s3().put_object(Bucket=sources, Key="files/data.bin", Body=VALUES.tobytes())
    org = service.new_org("refresh", local_bucket=False)
    admin = Client(org.url, token=org.token)
    admin.create_bucket_config(org=org.name, nickname="store", **seaweed.sts_bucket_config(s3_bucket))
    admin.set_default_bucket_config(org=org.name, nickname="store")
    bucket = admin.create_bucket_config(
        org=org.name, nickname="sources", **seaweed.sts_bucket_config(sources)
    )
    granted = httpx.put(
        f"{org.url}/orgs/{org.name}/settings/virtual-chunk-access-policies",
        json={"bucket_id": str(bucket.id), "subprefix": "files"},
        headers={"authorization": f"Bearer {org.token}"},
    )
    assert granted.status_code == 200
    url_prefix = f"s3://{sources}/files/"
    config = icechunk.RepositoryConfig.default()
    store = container_store_config(bucket)
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(url_prefix, store, "sources"))
    return org, admin, config, url_prefix


def write_virtual_reference(repo: icechunk.Repository, url_prefix: str) -> None:
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    root.create_array("data", shape=(8,), chunks=(8,), dtype="f8", compressors=None, fill_value=0)
    session.store.set_virtual_ref("data/c/0", f"{url_prefix}data.bin", offset=0, length=64)
    session.commit("a virtual reference")


def read_data(repo: icechunk.Repository) -> np.ndarray:
    return zarr.open_group(repo.readonly_session("main").store, mode="r")["data"][:]


def test_a_container_refresh_asks_its_own_route_through_the_client_transport(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, admin, config, url_prefix = org_with_a_granted_container(service, seaweed, s3_bucket)
    name = f"{org.name}/virtual"
    write_virtual_reference(admin.create_repo(name, config=config), url_prefix)
    token = admin.create_api_client(org.name, "reader", role=OrgRole.REPO_READER).token.token
    reader = Client(org.url, token=token.get_secret_value())
    opened = reader.get_repo(name)
    storage_credentials._cache.clear()  # as if the credentials /open sent had expired
    before = len(service.log_text())

    np.testing.assert_array_equal(read_data(opened), VALUES)

    paths = requested_paths(service, before, including=f"/repos/{name}/virtual-chunk-credentials")
    assert f"/repos/{name}/open" not in paths
    caller = storage_credentials._caller(reader.token)
    assert storage_credentials._transports[(reader.service_uri, caller)] is reader.aclient._transport


def test_create_repo_reads_the_containers_its_activation_grants(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, admin, config, url_prefix = org_with_a_granted_container(service, seaweed, s3_bucket)

    repo = admin.create_repo(f"{org.name}/created", config=config)

    write_virtual_reference(repo, url_prefix)
    np.testing.assert_array_equal(read_data(repo), VALUES)
    assert repo.config.virtual_chunk_containers[url_prefix].name == "sources"


def test_nicknames_resolve_container_names_of_the_stored_config(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, admin, config, url_prefix = org_with_a_granted_container(service, seaweed, s3_bucket)
    name = f"{org.name}/named"
    write_virtual_reference(admin.create_repo(name, config=config), url_prefix)

    repo = admin.get_repo(name, virtual_container_nicknames={"sources": "sources"})

    np.testing.assert_array_equal(read_data(repo), VALUES)
    assert repo.config.virtual_chunk_containers[url_prefix].name == "sources"
    with pytest.raises(ValueError, match="no virtual chunk container 'elsewhere'"):
        admin.get_repo(name, virtual_container_nicknames={"elsewhere": "sources"})
