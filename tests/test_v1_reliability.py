"""V1 repos under concurrent writers, through the client against the real service (SQLite and PostgreSQL):
sessions on one branch that wrote disjoint paths all land, through the client's commit with its rebase
retries, from several threads or processes; the same path written twice is a clear conflict; a session
that was abandoned refuses its commit. (Expired and abandoned sessions refusing writes are covered by the
domain tests of tests/v1 and the route tests.)"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.client.io_loop import run_sync
from arraylake.exceptions import ArraylakeError, CommitFailedError
from arraylake.repos.v1 import Repo
from arraylake.types import RepoKind
from tests.support.service import Org

WRITERS = 4


def _v1(client: Client, name: str, *, read_only: bool = False) -> Repo:
    repo = client.get_repo(name, read_only=read_only)
    assert isinstance(repo, Repo)
    return repo


def _write_and_commit(url: str, token: str, name: str, group: str) -> str | None:
    """One writer: its own session, its own group, then the client's commit (rebasing as others land)."""
    repo = _v1(Client(url, token=token), name)
    root = zarr.open_group(repo.store, mode="a", zarr_format=3)
    array = root.create_array(f"{group}/x", shape=(40,), chunks=(10,), dtype="i4")
    array[:] = np.arange(40, dtype="i4") + sum(map(ord, group))
    return repo.commit(f"write {group}")


def _base(org: Org, name: str) -> Client:
    client = Client(org.url, token=org.token)
    repo = client.create_repo(f"{org.name}/{name}", kind=RepoKind.V1)
    assert isinstance(repo, Repo)
    zarr.open_group(repo.store, mode="a", zarr_format=3).attrs["title"] = "base"
    repo.commit("base")
    return client


def _check_all_landed(client: Client, name: str, groups: list[str], commits: list[str | None]) -> None:
    repo = _v1(client, name, read_only=True)
    log = [c.message for c in repo.commit_log]
    assert sorted(log[:-1]) == sorted(f"write {g}" for g in groups) and log[-1] == "base"
    assert {c.id for c in repo.commit_log} >= set(commits)
    root = zarr.open_group(repo.store, mode="r", zarr_format=3)
    for group in groups:
        np.testing.assert_array_equal(root[f"{group}/x"][:], np.arange(40) + sum(map(ord, group)))


def test_disjoint_sessions_in_threads_all_land(org: Org) -> None:
    client = _base(org, "threads")
    name = f"{org.name}/threads"
    groups = [f"t{i}" for i in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        commits = list(pool.map(lambda g: _write_and_commit(org.url, org.token, name, g), groups))
    _check_all_landed(client, name, groups, commits)


def test_disjoint_sessions_in_processes_all_land(org: Org) -> None:
    client = _base(org, "processes")
    name = f"{org.name}/processes"
    groups = [f"p{i}" for i in range(WRITERS)]
    with ProcessPoolExecutor(WRITERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_write_and_commit, org.url, org.token, name, g) for g in groups]
        commits = [f.result(timeout=120) for f in futures]
    _check_all_landed(client, name, groups, commits)


def test_the_same_path_in_two_sessions_is_a_clear_conflict(org: Org) -> None:
    client = _base(org, "clash")
    name = f"{org.name}/clash"
    first, second = _v1(client, name), _v1(client, name)
    for repo, value in ((first, 1), (second, 2)):
        zarr.open_group(repo.store, mode="a", zarr_format=3).create_array(
            "x", shape=(4,), chunks=(4,), dtype="i4", fill_value=0
        )[:] = value
    first.commit("first")
    with pytest.raises(CommitFailedError, match="Conflicting changes") as caught:
        second.commit("second")
    assert "data/root/x/c0" in str(caught.value)
    # the first writer's data stands, and the loser's session was not committed
    reader = _v1(client, name, read_only=True)
    assert [c.message for c in reader.commit_log] == ["first", "base"]
    np.testing.assert_array_equal(zarr.open_array(reader.store, path="x", mode="r")[:], [1, 1, 1, 1])


def test_an_abandoned_session_refuses_its_commit(org: Org) -> None:
    client = _base(org, "abandoned")
    name = f"{org.name}/abandoned"
    repo = _v1(client, name)
    zarr.open_group(repo.store, mode="a", zarr_format=3).attrs["late"] = True
    run_sync(repo.session.abandon())  # type: ignore[attr-defined]
    with pytest.raises(ArraylakeError, match="abandoned"):
        repo.commit("too late")
    assert [c.message for c in _v1(client, name, read_only=True).commit_log] == ["base"]
