"""``arraylake repo doctor`` against a live service: a dataset without CF attributes is diagnosed, fixed by a
commit on its branch, and then serves every protocol; bad refs, groups and repos are one clear line."""

from __future__ import annotations

import cf_xarray  # noqa: F401  (the .cf accessor: how the protocol plugins find axes)
import numpy as np
import pandas as pd
import pytest
import xarray as xr
import zarr

from arraylake import Client
from tests.support.cli import Cli
from tests.support.service import ArraylakeService, Org

pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.parametrize("service", ["sqlite"], indirect=True)]

GROUP = "surface/daily"
PROTOCOLS = ["edr", "wms", "tiles", "dap2", "zarr"]


@pytest.fixture(scope="module")
def org(service: ArraylakeService) -> Org:
    return service.new_org("doctor")


@pytest.fixture
def cli(service: ArraylakeService, org: Org) -> Cli:
    return Cli(service.url, org.token)


def bare_dataset() -> xr.Dataset:
    """Temperature on time x lat x lon, with no CF attributes at all (as many hand-made datasets are)."""
    rng = np.random.default_rng(7)
    return xr.Dataset(
        {"t2m": (("time", "lat", "lon"), rng.normal(280, 5, (3, 4, 6)).astype("float32"))},
        coords={
            "time": pd.date_range("2024-06-01", periods=3, freq="D"),
            "lat": np.linspace(50.0, 35.0, 4),
            "lon": np.linspace(0.0, 25.0, 6),
        },
    )


def make_repo(service: ArraylakeService, org: Org, name: str) -> tuple[str, xr.Dataset, str]:
    """A repo with the bare dataset in GROUP, an empty group, and a tag on the commit: (name, dataset, tag's
    snapshot)."""
    full = f"{org.name}/{name}"
    repo = Client(service.url, token=org.token).create_repo(full)
    session = repo.writable_session("main")
    source = bare_dataset()
    source.to_zarr(session.store, group=GROUP, mode="w", consolidated=False, zarr_format=3)
    zarr.open_group(session.store).create_group("nothing")
    snapshot = session.commit("bare data")
    repo.create_tag("v1", snapshot)
    return full, source, snapshot


def statuses(report: dict) -> dict[str, tuple[bool, bool]]:
    return {p["protocol"]: (p["compatible"], p["compatible_after_fix"]) for p in report["protocols"]}


def test_doctor_finds_fixes_and_commits_the_missing_attributes(
    cli: Cli, service: ArraylakeService, org: Org
) -> None:
    name, source, first = make_repo(service, org, "bare")

    report = cli.json("repo", "doctor", name, "--group", GROUP)
    assert report["repo"] == name and report["ref"] == "main" and report["group"] == GROUP
    assert report["snapshot_id"] == first and report["fix"] is None
    assert statuses(report) == {
        "edr": (False, True),
        "wms": (False, True),
        "tiles": (False, True),
        "dap2": (True, True),
        "zarr": (True, True),
    }
    assert {f["variable"]: f["attributes"] for f in report["fixes"]} == {
        "lat": {"axis": "Y", "standard_name": "latitude", "units": "degrees_north"},
        "lon": {"axis": "X", "standard_name": "longitude", "units": "degrees_east"},
        "time": {"axis": "T", "standard_name": "time"},
    }

    table = cli("repo", "doctor", name, "-g", GROUP).stdout
    assert f"{name} @ main, group '{GROUP}' (snapshot {first})" in table
    for line in ("EDR", "WMS", "Tiles"):
        assert any(
            row.strip("│ ").startswith(line) and "fixable (--fix)" in row for row in table.splitlines()
        )
    assert "no X axis" in table and "no latitude" in table and "Missing CF attributes" in table
    assert f"arraylake repo doctor {name} --ref main --group {GROUP} --fix" in table

    fixed = cli("repo", "doctor", name, "-g", GROUP, "--fix").stdout
    history = cli.json("repo", "history", name)
    new = history[0]["id"]
    assert history[1]["id"] == first and new != first
    assert f"Committed snapshot {new} on main." in fixed and "Added CF attributes" in fixed
    assert f"(snapshot {first})" in fixed and "after the fix" in fixed
    message = history[0]["message"]
    assert message.startswith(f"repo doctor: add CF attributes in {GROUP}: ")
    assert (
        "lat (axis=Y, standard_name=latitude, units=degrees_north)" in message and "time (axis=T" in message
    )

    again = cli.json("repo", "doctor", name, "-g", f"/{GROUP}/")
    assert again["snapshot_id"] == new and again["fixes"] == [] and again["notes"] == []
    assert statuses(again) == {p: (True, True) for p in PROTOCOLS}
    assert again["axes"] == {"X": ["lon"], "Y": ["lat"], "Z": [], "T": ["time"]}
    assert "Nothing to fix" in cli("repo", "doctor", name, "-g", GROUP, "--fix").stdout
    assert cli.json("repo", "history", name)[0]["id"] == new  # and nothing was committed

    # the new snapshot, as any reader sees it: the attributes are there, the values are the same
    repo = Client(service.url, token=org.token).get_repo(name, read_only=True)
    ds = xr.open_zarr(repo.readonly_session(snapshot_id=new).store, group=GROUP, consolidated=False)
    assert ds.lat.attrs == {"axis": "Y", "standard_name": "latitude", "units": "degrees_north"}
    assert ds.lon.attrs["standard_name"] == "longitude" and ds.time.attrs["axis"] == "T"
    xr.testing.assert_identical(ds.drop_attrs().load(), source.drop_attrs())
    assert ds.cf.axes == {"X": ["lon"], "Y": ["lat"], "T": ["time"]}
    assert repo.diff(from_snapshot_id=first, to_snapshot_id=new).updated_chunks == {}
    # the tag still names the data as it was
    assert statuses(cli.json("repo", "doctor", name, "-g", GROUP, "--ref", "v1"))["edr"] == (False, True)


def test_fix_refuses_what_is_not_a_branch_and_json_says_what_it_committed(
    cli: Cli, service: ArraylakeService, org: Org
) -> None:
    name, _, first = make_repo(service, org, "refs")
    tag = cli("repo", "doctor", name, "-g", GROUP, "--ref", "v1", "--fix", code=1)
    assert tag.error == "Error: --fix commits on a branch, and 'v1' is a tag: give --ref BRANCH"
    snap = cli("repo", "doctor", name, "-g", GROUP, "--ref", first, "--fix", code=1)
    assert snap.error == f"Error: --fix commits on a branch, and '{first}' is a snapshot: give --ref BRANCH"
    assert cli.json("repo", "history", name)[0]["id"] == first

    Client(service.url, token=org.token).get_repo(name).create_branch("fixes", first)
    done = cli.json("repo", "doctor", name, "-g", GROUP, "--ref", "fixes", "--fix")
    assert done["snapshot_id"] == first and statuses(done)["wms"] == (False, True)
    assert {p["protocol"]: p["compatible"] for p in done["fix"]["protocols"]} == dict.fromkeys(
        PROTOCOLS, True
    )
    branches = {b["name"]: b["snapshot_id"] for b in cli.json("repo", "branches", name)}
    assert branches == {"main": first, "fixes": done["fix"]["snapshot_id"]}
    assert cli.json("repo", "history", name, "-b", "fixes")[0]["message"] == done["fix"]["message"]


def test_what_is_not_there_is_one_clear_line(cli: Cli, service: ArraylakeService, org: Org) -> None:
    name, _, _ = make_repo(service, org, "errors")
    missing = cli("repo", "doctor", f"{org.name}/nothing-here", code=1).error
    assert missing.startswith(f"Error: repo {org.name}/nothing-here not found (HTTP 404")
    assert cli("repo", "doctor", name, "-g", "nope", code=1).error == (
        f"Error: {name} @ main, group 'nope': there is no group 'nope'"
    )
    assert cli("repo", "doctor", name, "-g", "nothing", code=1).error == (
        f"Error: {name} @ main, group 'nothing': group 'nothing' holds no arrays: not a dataset"
    )
    assert cli("repo", "doctor", name, code=1).error == (
        f"Error: {name} @ main: the root group holds no arrays: not a dataset"
    )
    assert cli("repo", "doctor", name, "--ref", "no-such-ref", code=1).error == (
        f"Error: {name} has no branch, tag or snapshot 'no-such-ref'"
    )
    Client(service.url, token=org.token).create_repo(f"{org.name}/empty")
    empty = cli("repo", "doctor", f"{org.name}/empty", "--fix", code=1).error
    assert empty == f"Error: {org.name}/empty @ main: no root group: nothing has been written yet"
    cli("repo", "create", f"{org.name}/legacy", "--kind", "v1")
    assert cli("repo", "doctor", f"{org.name}/legacy", code=1).error == (
        f"Error: {org.name}/legacy is a V1 repo: the doctor reads Icechunk repos "
        "(`arraylake repo migrate` copies it)"
    )
