"""The synchronous Client works inside a running event loop (as in Jupyter) and next to the AsyncClient."""

from __future__ import annotations

import asyncio

import pytest

from arraylake import AsyncClient, Client
from arraylake.client.io_loop import io_loop, run_sync
from tests.support.service import Org


async def test_sync_client_inside_a_running_loop(org: Org) -> None:
    client = Client(org.url, token=org.token)
    # Called directly from a coroutine, exactly like a notebook cell: no nested-loop error.
    client.create_repo(f"{org.name}/nb")
    assert [r.name for r in client.list_repos(org.name)] == ["nb"]
    aclient = AsyncClient(org.url, token=org.token)
    assert [r.name for r in await aclient.list_repos(org.name)] == ["nb"]


def test_sync_client_from_threads(org: Org) -> None:
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/shared")

    async def many() -> list[str]:
        names = await asyncio.gather(
            *(asyncio.to_thread(client.get_repo_object, f"{org.name}/shared") for _ in range(8))
        )
        return [n.name for n in names]

    assert asyncio.run(many()) == ["shared"] * 8


def test_run_sync_refuses_its_own_loop() -> None:
    async def inner() -> None:
        run_sync(asyncio.sleep(0))

    with pytest.raises(RuntimeError, match="inside its own IO loop"):
        asyncio.run_coroutine_threadsafe(inner(), io_loop()).result()
