"""Concurrency: commits racing on one branch lose nothing; creations racing on one name leave one repo and
no orphan data. SeaweedFS (object stores have the conditional writes Icechunk relies on)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import icechunk
import numpy as np
import zarr

from arraylake import Client
from arraylake.exceptions import ArraylakeConflictError
from tests.support.seaweed import SeaweedFS
from tests.support.service import Org

WRITERS = 16
CREATORS = 50


def s3_org(org: Org, seaweed: SeaweedFS, bucket: str) -> Client:
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="objects", **seaweed.bucket_config(bucket))
    client.set_default_bucket_config(org=org.name, nickname="objects")
    return client


def test_concurrent_writers_never_lose_a_commit(org: Org, seaweed: SeaweedFS, s3_bucket: str) -> None:
    client = s3_org(org, seaweed, s3_bucket)
    client.create_repo(f"{org.name}/busy")
    start = threading.Barrier(WRITERS)

    def write(i: int) -> tuple[str, str | None]:
        repo = client.get_repo(f"{org.name}/busy")
        session = repo.writable_session("main")
        zarr.group(session.store).create_array(f"w{i}", shape=(4,), dtype="i4")[:] = np.full(4, i)
        start.wait()
        try:
            return f"writer {i}", session.commit(f"writer {i}")
        except icechunk.ConflictError:
            return f"writer {i}", None

    with ThreadPoolExecutor(WRITERS) as pool:
        outcomes = list(pool.map(write, range(WRITERS)))
    landed = {message for message, snapshot in outcomes if snapshot is not None}
    assert landed, "at least one commit lands"
    history = [s.message for s in client.get_repo(f"{org.name}/busy").ancestry(branch="main")]
    assert set(history) - {"Repository initialized"} == landed
    assert len(history) == len(landed) + 1  # nothing twice, nothing lost
    group = zarr.open_group(client.get_repo(f"{org.name}/busy").readonly_session("main").store, mode="r")
    assert {name for name, _ in group.arrays()} == {m.replace("writer ", "w") for m in landed}


def test_concurrent_creations_of_one_name(org: Org, seaweed: SeaweedFS, s3_bucket: str) -> None:
    client = s3_org(org, seaweed, s3_bucket)
    start = threading.Barrier(CREATORS)

    def create(_: int) -> str:
        start.wait()
        try:
            client.create_repo(f"{org.name}/contested")
            return "created"
        except ArraylakeConflictError:
            return "conflict"

    with ThreadPoolExecutor(CREATORS) as pool:
        outcomes = list(pool.map(create, range(CREATORS)))
    assert outcomes.count("created") == 1 and outcomes.count("conflict") == CREATORS - 1
    winner = client.get_repo_object(f"{org.name}/contested").prefix
    assert [r.name for r in client.list_repos(org.name)] == ["contested"]
    prefixes = {key.split("/")[0] for key in seaweed.keys(s3_bucket)}
    assert prefixes == {winner}  # no orphan data from the losers
    assert icechunk.Repository.exists(client.get_icechunk_storage(f"{org.name}/contested"))
