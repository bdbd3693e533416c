"""The service killed with SIGKILL in the middle of creating or deleting a repo, then restarted: once it has
recovered, no repo is half-created or half-deleted, in the catalog or in the bucket."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import icechunk
import numpy as np
import zarr

from arraylake import Client
from arraylake.exceptions import ArraylakeError
from tests.support.processes import wait_until
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService


def s3_client(service: ArraylakeService, seaweed: SeaweedFS, bucket: str) -> tuple[str, Client, str]:
    org = service.new_org("kill", local_bucket=False)
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="objects", **seaweed.bucket_config(bucket))
    client.set_default_bucket_config(org=org.name, nickname="objects")
    return org.name, client, org.token


def catalog_names(service: ArraylakeService, org: str, token: str) -> list[str]:
    page = httpx.get(
        f"{service.url}/orgs/{org}/repos/paginated",
        params={"include_ghosts": "true"},
        headers={"authorization": f"Bearer {token}"},
    )
    return [r["name"] for r in page.json()["items"]]


def test_sigkill_during_delete(fresh_service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str) -> None:
    fresh_service.env["ARRAYLAKE_SERVER_DELETE_BATCH_SIZE"] = "20"
    # each batch pauses a moment, so that the kill reliably lands half-way (once, in CI, the whole deletion
    # finished between two polls of the bucket)
    fresh_service.env["ARRAYLAKE_SERVER_FAULT_INJECTION"] = "delete:slowly"
    fresh_service.start()
    org, client, token = s3_client(fresh_service, seaweed, s3_bucket)
    session = client.create_repo(f"{org}/big").writable_session("main")
    array = zarr.group(session.store).create_array("x", shape=(600, 100), chunks=(1, 100), dtype="f8")
    array[:] = np.random.default_rng(0).random((600, 100))
    session.commit("600 chunks")
    prefix = client.get_repo_object(f"{org}/big").prefix
    before = len(seaweed.keys(s3_bucket, prefix + "/"))
    assert before > 600

    def delete() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the service dies under it
            httpx.delete(
                f"{fresh_service.url}/orgs/{org}/big",
                params={"immediate": "true"},
                headers={"authorization": f"Bearer {token}"},
                timeout=60,
            )

    threading.Thread(target=delete, daemon=True).start()
    wait_until(lambda: len(seaweed.keys(s3_bucket, prefix + "/")) < before, 30, "the deletion to start", 0.02)
    fresh_service.kill()
    assert 0 < len(seaweed.keys(s3_bucket, prefix + "/")) < before  # killed half-way

    fresh_service.start()
    wait_until(lambda: not seaweed.keys(s3_bucket, prefix + "/"), 60, "the deletion to finish")
    wait_until(lambda: catalog_names(fresh_service, org, token) == [], 10, "the catalog row to go")
    client.create_repo(f"{org}/big")  # the name is free


def test_sigkill_during_create(fresh_service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str) -> None:
    fresh_service.env["ARRAYLAKE_SERVER_CREATION_LEASE_SECONDS"] = "3"
    fresh_service.start()
    org, client, token = s3_client(fresh_service, seaweed, s3_bucket)
    outcome: dict[str, object] = {}

    def create() -> None:
        try:
            client.create_repo(f"{org}/interrupted")
            outcome["created"] = True
        except ArraylakeError as exc:
            outcome["error"] = exc

    threading.Thread(target=create, daemon=True).start()
    # the reservation is made when the client starts writing the repository into the bucket
    wait_until(lambda: bool(seaweed.keys(s3_bucket)), 30, "the client to start creating", 0.005)
    fresh_service.kill()
    time.sleep(1)
    fresh_service.start()
    wait_until(lambda: bool(outcome), 60, "the client's create_repo to return")

    def consistent() -> bool:
        names = catalog_names(fresh_service, org, token)
        keys = seaweed.keys(s3_bucket)
        if names == ["interrupted"]:  # created: the repository is whole
            storage = client.get_icechunk_storage(f"{org}/interrupted")
            return icechunk.Repository.exists(storage) and all(
                k.split("/")[0] == keys[0].split("/")[0] for k in keys
            )
        return names == [] and keys == []  # not created: nothing left anywhere

    wait_until(consistent, 30, "a consistent catalog and bucket")
    if "created" not in outcome:  # and the name is usable again
        client.create_repo(f"{org}/interrupted")
