"""The service's short-lived repo cache: a process reads its own writes at once, another process's writes
within ``CATALOG_CACHE_SECONDS``; concurrent misses read the catalog once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arraylake import Client
from arraylake.server.single_flight import SingleFlight
from tests.conftest import make_service
from tests.support.service import ArraylakeService

TTL = 1.0


@pytest.fixture
def two_processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ArraylakeService, ...]]:
    """Two service processes on one catalog (as behind a load balancer), each with its own cache."""
    env = {"ARRAYLAKE_SERVER_CATALOG_CACHE_SECONDS": str(TTL)}
    first = make_service(tmp_path, "sqlite", request, env)
    second = ArraylakeService(tmp_path, None, {**env})
    second.log_path = tmp_path / "second.log"
    first.start()
    second.start()
    yield first, second
    second.stop()
    first.stop()


def test_a_process_reads_its_own_writes_and_others_within_the_ttl(
    two_processes: tuple[ArraylakeService, ArraylakeService],
) -> None:
    first, second = two_processes
    org = first.new_org()
    name = f"{org.name}/cached"
    via_first = Client(first.url, token=org.token)
    via_second = Client(second.url, token=org.token)
    via_first.create_repo(name, metadata={"v": 1})
    assert via_first.get_repo_object(name).metadata == {"v": 1}  # now cached in both processes
    assert via_second.get_repo_object(name).metadata == {"v": 1}

    via_second.delete_repo(name, imsure=True, imreallysure=True)
    with pytest.raises(ValueError, match="not found"):
        via_second.get_repo_object(name)  # its own write: at once

    deleted_at = time.monotonic()
    headers = {"authorization": f"Bearer {org.token}"}
    with httpx.Client(base_url=first.url, headers=headers) as http:
        while http.get(f"/repos/{name}").status_code == 200:
            assert time.monotonic() - deleted_at < TTL + 5, "a deleted repo outlived the cache's TTL"
            time.sleep(0.05)
        assert http.get(f"/repos/{name}").status_code == 404
    # And back: a repo created through the first process shows in the second.
    via_first.create_repo(name)
    assert via_second.get_repo_object(name).name == "cached"


async def test_single_flight_runs_one_load_for_concurrent_callers() -> None:
    flights: SingleFlight[str, int] = SingleFlight()
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.05)
        return loads

    assert await asyncio.gather(*(flights.run("key", load) for _ in range(20))) == [1] * 20
    assert loads == 1
    assert await flights.run("key", load) == 2  # finished flights are not remembered

    async def fail() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("gone")

    outcomes = await asyncio.gather(*(flights.run("other", fail) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(o, LookupError) for o in outcomes)
