"""Legacy V1 repos end to end through Client: create, write xarray through repo.store, commit, branch, tag,
history, time travel, tree, filters, status, shared sessions, abandon, listing and deletion, against the
real service on SQLite and PostgreSQL."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from arraylake import Client
from arraylake.repos.v1 import Repo
from tests.support.seaweed import SeaweedFS
from tests.support.service import Org


def weather(days: int = 2, start: str = "2024-01-01") -> xr.Dataset:
    time = pd.date_range(start, periods=days * 24, freq="h")
    rng = np.random.default_rng(7)
    return xr.Dataset(
        {
            "tas": (
                ("time", "lat", "lon"),
                rng.normal(280, 10, (len(time), 10, 20)).astype("f4"),
                {
                    "units": "K",
                    "standard_name": "air_temperature",
                    "long_name": "Air temperature",
                },
            ),
            "pr": (("time", "lat", "lon"), rng.gamma(2, 1, (len(time), 10, 20)), {"units": "kg m-2 s-1"}),
        },
        coords={
            "time": time,
            "lat": ("lat", np.linspace(-45, 45, 10), {"units": "degrees_north", "axis": "Y"}),
            "lon": ("lon", np.linspace(0, 342, 20), {"units": "degrees_east", "axis": "X"}),
        },
        attrs={"Conventions": "CF-1.8", "title": "V1 weather"},
    ).chunk({"time": 24})


def write(repo: Repo, ds: xr.Dataset, group: str, **kwargs: object) -> None:
    ds.to_zarr(repo.store, group=group, zarr_format=3, consolidated=False, **kwargs)  # type: ignore[call-overload]


@pytest.mark.parametrize("storage", ["local", "s3"])
def test_v1_repo_life(org: Org, storage: str, request: pytest.FixtureRequest) -> None:
    client = Client(org.url, token=org.token)
    nickname = None
    if storage == "s3":
        seaweed = request.getfixturevalue("seaweed")
        bucket = request.getfixturevalue("s3_bucket")
        client.create_bucket_config(org=org.name, nickname="v1-bucket", **seaweed.bucket_config(bucket))
        nickname = "v1-bucket"
    name = f"{org.name}/legacy"
    repo = client.create_repo(name, kind="v1", bucket_config_nickname=nickname)
    assert isinstance(repo, Repo)
    assert repo.session.branch == "main" and repo.session.base_commit is None

    ds = weather()
    write(repo, ds, "era")
    assert any(path.startswith("meta/root/era") for path, _ in repo.status().modified_paths)
    first = repo.commit("add two days")
    assert first is not None and repo.session.base_commit == first
    xr.testing.assert_identical(repo.to_xarray("era").load(), ds.load())

    # a branch, a commit on it, a tag
    repo.checkout("main", for_writing=True)
    repo.new_branch("dev")
    write(repo, weather(1, "2024-01-03"), "era", append_dim="time")
    on_dev = repo.commit("append a day on dev")
    assert {b.id for b in repo.branches} == {"main", "dev"}
    repo.tag("v1.0", first, message="first release")
    assert [t.label for t in repo.tags] == ["v1.0"]
    assert [c.message for c in repo.commit_log] == ["append a day on dev", "add two days"]
    assert "v1.0" in repo.commit_log._repr_html_()

    # time travel
    repo.checkout("v1.0")
    xr.testing.assert_identical(repo.to_xarray("era").load(), ds.load())
    repo.checkout(on_dev)
    assert repo.to_xarray("era").sizes["time"] == 72
    repo.checkout("main")
    assert repo.to_xarray("era").sizes["time"] == 48

    # tree and metadata filters
    tree = repo.tree()
    assert set(tree.trees["era"].arrays) == {"tas", "pr", "time", "lat", "lon"}
    assert repo.filter_metadata("attributes.standard_name == 'air_temperature'") == ["era/tas"]

    # two repo objects, one session
    writer = client.get_repo(name, read_only=False)
    other = client.get_repo(name, checkout=False)
    other.join_session(writer.session.id)
    other.checkout(session_token=writer.session.id)
    write(other, weather(1, "2024-02-01"), "more")
    assert writer.status().modified_paths  # the other object's writes are in this session
    worker = pickle.loads(pickle.dumps(writer))  # noqa: S301 (our own bytes)
    assert worker.session.id == writer.session.id
    writer.commit("from two writers")
    assert "more" in client.get_repo(name).tree().trees

    # abandoning a session discards its writes
    doomed = client.get_repo(name, read_only=False)
    write(doomed, weather(1), "gone")
    assert doomed.session.id in {s.id for s in doomed.list_active_sessions()}
    from arraylake.client.io_loop import run_sync

    run_sync(doomed.session.abandon())  # type: ignore[attr-defined]
    with pytest.raises(Exception):  # noqa: B017 (the service refuses writes to an expired session)
        write(doomed, weather(1), "gone", mode="w")

    # the catalog
    assert name.split("/")[1] in {r.name for r in client.list_repos(org.name)}
    assert client.get_repo_object(name).kind == "v1"
    client.delete_repo(name, imsure=True, imreallysure=True)
    assert name.split("/")[1] not in {r.name for r in client.list_repos(org.name)}


def test_concurrent_commits_rebase(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/race"
    base = client.create_repo(name, kind="v1")
    write(base, weather(1), "a")
    base.commit("a")
    one = client.get_repo(name, read_only=False)
    two = client.get_repo(name, read_only=False)
    write(one, weather(1), "b")
    write(two, weather(1), "c")
    one.commit("b")
    two.commit("c")  # rebased onto b: disjoint paths
    assert [c.message for c in two.commit_log] == ["c", "b", "a"]


def test_dask_workers_write_into_one_session(org: Org, seaweed: SeaweedFS, s3_bucket: str) -> None:
    """A dask-backed dataset written through ``repo.store`` on a process cluster: every worker unpickles the
    store with the repo's session, so one commit holds all their chunks."""
    from distributed import Client as DaskClient
    from distributed import LocalCluster

    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="dask-v1", **seaweed.bucket_config(s3_bucket))
    name = f"{org.name}/dask-v1"
    repo = client.create_repo(name, kind="v1", bucket_config_nickname="dask-v1")
    ds = weather(2).chunk({"time": 6})
    assert ds.tas.data.npartitions == 8
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, DaskClient(cluster):
        write(repo, ds, "era")
    assert len(repo.list_active_sessions()) == 1  # the workers joined the session, made none of their own
    repo.commit("written by dask workers")
    back = client.get_repo(name).to_xarray("era")
    xr.testing.assert_identical(back.load(), ds.load())
