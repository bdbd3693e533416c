"""Following the removal of a deleted repo's data: the service counts the objects it has removed after every
batch, the client reports the count while it waits, and returns once the data is gone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import zarr

from arraylake import Client
from tests.conftest import make_service
from tests.support.service import ArraylakeService

CHUNKS = 120


@pytest.fixture
def slow_deletions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArraylakeService]:
    """Deletions in batches of 10 objects that pause after each batch, so that progress can be watched."""
    env = {"ARRAYLAKE_SERVER_DELETE_BATCH_SIZE": "10", "ARRAYLAKE_SERVER_FAULT_INJECTION": "delete:slowly"}
    service = make_service(tmp_path, "sqlite", request, env)
    service.start()
    yield service
    service.stop()


def test_the_client_follows_the_removal_until_the_data_is_gone(slow_deletions: ArraylakeService) -> None:
    org = slow_deletions.new_org()
    client = Client(org.url, token=org.token)
    name = f"{org.name}/big"
    session = client.create_repo(name).writable_session("main")
    # chunks well above Icechunk's inlining threshold, so that each one is an object of its own
    array = zarr.group(session.store).create_array(
        "x", shape=(CHUNKS * 1000,), chunks=(1000,), dtype="f8", compressors=None
    )
    array[:] = np.random.default_rng(0).random(CHUNKS * 1000)
    session.commit(f"{CHUNKS} chunks")
    repo = client.get_repo_object(name)
    data = slow_deletions.data_dir / "storage" / org.name / "local" / repo.prefix
    objects = sum(1 for f in data.rglob("*") if f.is_file())
    assert objects > CHUNKS

    counts: list[int] = []
    client.delete_repo(name, imsure=True, imreallysure=True, on_progress=counts.append)

    assert not data.exists() or not any(f.is_file() for f in data.rglob("*"))
    assert counts == sorted(counts) and len(set(counts)) >= 2, counts  # seen growing, batch by batch
    assert all(0 <= c <= objects for c in counts)
    done = httpx.get(
        f"{org.url}/orgs/{org.name}/repos/deletions/{repo.id}",
        headers={"authorization": f"Bearer {org.token}"},
    )
    assert done.json() == {"repo_id": repo.id, "in_progress": False, "removed_objects": 0}


def test_without_a_callback_the_delete_waits_as_before(slow_deletions: ArraylakeService) -> None:
    org = slow_deletions.new_org()
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/small")
    client.delete_repo(f"{org.name}/small", imsure=True, imreallysure=True)
    assert f"{org.name}/small" not in {r.name for r in client.list_repos(org.name)}
