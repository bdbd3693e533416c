"""Nothing half-made or half-deleted survives: failed creations, abandoned reservations, a service that dies
in the middle of deleting a repo's data. Real service processes, really killed and restarted."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import icechunk
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.exceptions import ArraylakeConflictError, ArraylakeConnectionError, ArraylakeNotFoundError
from arraylake.server import faults
from tests.support.processes import wait_until
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org


def fill(repo: icechunk.Repository, chunks: int = 12) -> None:
    session = repo.writable_session("main")
    array = zarr.group(session.store).create_array("x", shape=(chunks * 100,), chunks=(100,), dtype="f8")
    array[:] = np.random.default_rng(0).random(chunks * 100)
    session.commit("data")


def count_objects(storage: str, org: Org, prefix: str, seaweed: SeaweedFS | None, bucket: str | None) -> int:
    if storage == "s3":
        assert seaweed is not None and bucket is not None
        return len(seaweed.keys(bucket, prefix + "/"))
    root = org.service.settings.storage_root / org.name / "local" / prefix
    return sum(1 for p in Path(root).rglob("*") if p.is_file()) if root.exists() else 0


def raw(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=30)


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_service_dies_in_the_middle_of_a_delete(
    fresh_service: ArraylakeService, storage: str, request: pytest.FixtureRequest
) -> None:
    fresh_service.env["ARRAYLAKE_SERVER_DELETE_BATCH_SIZE"] = "2"
    fresh_service.start(extra_env={"ARRAYLAKE_SERVER_FAULT_INJECTION": faults.DELETE_AFTER_FIRST_BATCH})
    org = fresh_service.new_org()
    client = Client(org.url, token=org.token)
    seaweed = bucket = None
    if storage == "s3":
        seaweed = request.getfixturevalue("seaweed")
        bucket = request.getfixturevalue("s3_bucket")
        client.create_bucket_config(org=org.name, nickname="seaweed", **seaweed.bucket_config(bucket))
        client.set_default_bucket_config(org=org.name, nickname="seaweed")
    fill(client.create_repo(f"{org.name}/doomed"))
    prefix = client.get_repo_object(f"{org.name}/doomed").prefix
    before = count_objects(storage, org, prefix, seaweed, bucket)
    assert before > 4

    with raw(org) as http, pytest.raises(httpx.TransportError):
        http.delete(f"/orgs/{org.name}/doomed", params={"immediate": "true"})
    assert fresh_service.process is not None
    assert fresh_service.process.wait_exit(10) == 70  # the fault-injection exit, in the middle
    if storage == "s3":  # object stores delete batch by batch: the crash left a part behind
        assert 0 < count_objects(storage, org, prefix, seaweed, bucket) < before

    fresh_service.start()  # the same service, without the fault
    wait_until(
        lambda: count_objects(storage, org, prefix, seaweed, bucket) == 0, 30, "the deletion to be finished"
    )
    with raw(org) as http:
        wait_until(
            lambda: (
                http.get(f"/orgs/{org.name}/repos/paginated", params={"include_ghosts": "true"}).json()[
                    "total"
                ]
                == 0
            ),
            10,
            "the catalog row to go",
        )
    with pytest.raises(ArraylakeNotFoundError):
        client.get_repo_object(f"{org.name}/doomed")
    assert client.create_repo(f"{org.name}/doomed") is not None  # the name is free again


def test_abandoned_reservation_is_removed(fresh_service: ArraylakeService) -> None:
    fresh_service.start(extra_env={"ARRAYLAKE_SERVER_CREATION_LEASE_SECONDS": "3"})
    org = fresh_service.new_org()
    client = Client(org.url, token=org.token)
    with raw(org) as http:
        reserved = http.post(f"/orgs/{org.name}/repos", json={"name": "ghostly", "create_mode": "create"})
        assert reserved.status_code == 201, reserved.text
        prefix = reserved.json()["prefix"]
        # The creator writes part of a repository, then vanishes without activating it.
        storage = icechunk.local_filesystem_storage(
            str(fresh_service.settings.storage_root / org.name / "local" / prefix)
        )
        icechunk.Repository.create(storage)
        assert count_objects("local", org, prefix, None, None) > 0

        assert http.get(f"/repos/{org.name}/ghostly").status_code == 404  # never visible while half-made
        assert http.get(f"/orgs/{org.name}/repos/paginated").json()["total"] == 0
        again = http.post(f"/orgs/{org.name}/repos", json={"name": "ghostly", "create_mode": "create"})
        assert again.status_code == 409 and "being created" in again.json()["detail"]

    wait_until(
        lambda: count_objects("local", org, prefix, None, None) == 0, 20, "the reservation's data to go"
    )
    repo = client.create_repo(f"{org.name}/ghostly")
    assert client.get_repo_object(f"{org.name}/ghostly").prefix != prefix
    assert icechunk.Repository.exists(repo.storage)


def test_expired_reservation_is_released_by_the_next_create(fresh_service: ArraylakeService) -> None:
    # A janitor that never runs in the test's time frame: the next creation must release the name itself.
    fresh_service.start(
        extra_env={
            "ARRAYLAKE_SERVER_CREATION_LEASE_SECONDS": "1",
            "ARRAYLAKE_SERVER_JANITOR_INTERVAL_SECONDS": "3600",
        }
    )
    org = fresh_service.new_org()
    with raw(org) as http:
        assert (
            http.post(f"/orgs/{org.name}/repos", json={"name": "rr", "create_mode": "create"}).status_code
            == 201
        )
        time.sleep(1.5)
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/rr")
    assert [r.name for r in client.list_repos(org.name)] == ["rr"]


def test_service_killed_right_after_reserving(fresh_service: ArraylakeService) -> None:
    fresh_service.start(
        extra_env={
            "ARRAYLAKE_SERVER_FAULT_INJECTION": faults.CREATE_AFTER_RESERVE,
            "ARRAYLAKE_SERVER_CREATION_LEASE_SECONDS": "2",
        }
    )
    org = fresh_service.new_org()
    client = Client(org.url, token=org.token)
    with pytest.raises(ArraylakeConnectionError):
        client.create_repo(f"{org.name}/interrupted")
    fresh_service.start(extra_env={"ARRAYLAKE_SERVER_CREATION_LEASE_SECONDS": "2"})
    assert client.list_repos(org.name) == []
    with pytest.raises(ArraylakeNotFoundError):
        client.get_repo_object(f"{org.name}/interrupted")
    time.sleep(2.5)
    client.create_repo(f"{org.name}/interrupted")
    assert [r.name for r in client.list_repos(org.name)] == ["interrupted"]


def test_failed_creation_frees_the_name_at_once(org: Org) -> None:
    client = Client(org.url, token=org.token)
    with pytest.raises(ValueError, match="no virtual chunk container 'nope'"):
        client.create_repo(f"{org.name}/failing", virtual_container_nicknames={"nope": "local"})
    with pytest.raises(ArraylakeNotFoundError):
        client.get_repo_object(f"{org.name}/failing")
    assert client.list_repos(org.name) == []
    repo = client.create_repo(f"{org.name}/failing")
    assert icechunk.Repository.exists(repo.storage)
    with pytest.raises(ArraylakeConflictError, match="already exists"):
        client.create_repo(f"{org.name}/failing")
