"""The service's short-lived repo cache: a process reads its own writes at once, another process's writes
within ``CATALOG_CACHE_SECONDS``; concurrent misses read the catalog once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from arraylake import Client
from arraylake.server.catalog_cache import invalidate_on_commit
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


async def test_every_catalog_cache_clears_on_commit_and_again_once_it_is_done(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'catalog.db'}")
    cleared: list[str] = []

    class Cache:
        def __init__(self, name: str) -> None:
            self.name = name

        def invalidate(self) -> None:
            cleared.append(self.name)

    invalidate_on_commit(engine, [Cache("catalog"), Cache("tokens")])
    try:
        async with engine.connect() as conn:
            await conn.execute(text("select 1"))
        assert cleared == []  # reads clear nothing
        async with engine.begin() as conn:
            await conn.execute(text("create table t (x integer)"))
            assert cleared == []
        # as the commit starts, and once more when the connection is back in the pool, the commit done
        assert cleared == ["catalog", "tokens", "catalog", "tokens"]
    finally:
        await engine.dispose()
