"""Migrating V1 repos to Icechunk against the real service: history, branches and tags, values at every
tag, resuming an interrupted migration, verification catching a difference, and the CLI."""

from __future__ import annotations

from typing import Any

import icechunk
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.repos.v1 import Repo
from arraylake.repos.v1.migrate import (
    TAG_BRANCH_PREFIX,
    V1_COMMIT_ID,
    MigrationError,
    MigrationProgress,
    MigrationVerificationError,
)
from arraylake.types import RepoKind
from tests.support.cli import Cli
from tests.support.service import Org

MAIN = ["first arrays", "warmer, and wind", "drop counts, grow temp", "one more row"]


def build(client: Client, name: str) -> dict[str, str]:
    """A V1 repo: four commits on main, ``dev`` with a commit of its own, tags ``v1.0`` and ``v2.0``, and a
    deleted branch whose last commit only the tag ``scratch-end`` keeps. The commit ids by message."""
    repo = client.create_repo(name, kind=RepoKind.V1)
    assert isinstance(repo, Repo)
    repo.checkout("main", for_writing=True)
    ids: dict[str, str] = {}

    def commit(message: str) -> None:
        made = repo.commit(message, checkout_for_writing=True)
        assert made is not None
        ids[message] = made

    root = repo.root_group
    root.attrs["title"] = "legacy"
    temp = root.create_array(
        "temp", shape=(4, 6), chunks=(2, 3), dtype="float32", fill_value=np.nan, attributes={"units": "K"}
    )
    temp[:2] = np.arange(12, dtype="float32").reshape(2, 6)
    counts = root.create_array("counts", shape=(10,), chunks=(4,), dtype="int64", fill_value=-1)
    counts[:] = np.arange(10)
    commit(MAIN[0])

    root = repo.root_group
    root["temp"][2:, :] = 7.5  # type: ignore[index]
    wind = root.create_group("obs", attributes={"source": "station"}).create_array(
        "wind", shape=(3,), chunks=(3,), dtype="float64"
    )
    wind[:] = [1.0, 2.0, 3.0]
    commit(MAIN[1])
    repo.tag("v1.0", ids[MAIN[1]])

    repo.new_branch("dev")
    repo.root_group["counts"][:] = np.arange(10) * 100  # type: ignore[index]
    commit("scaled counts on dev")

    repo.checkout("main", for_writing=True)
    root = repo.root_group
    del root["counts"]
    grown = root["temp"]
    assert isinstance(grown, zarr.Array)
    grown.resize((6, 6))
    grown.attrs["units"] = "degC"
    commit(MAIN[2])
    repo.tag("v2.0", ids[MAIN[2]], message="second release")
    repo.root_group["temp"][5, :] = -1  # type: ignore[index]
    commit(MAIN[3])

    repo.new_branch("scratch")
    repo.root_group.create_array("tmp", shape=(2,), chunks=(2,), dtype="int8")
    commit("scratch work")
    repo.tag("scratch-end", ids["scratch work"])
    repo.delete_branch("scratch")
    return ids


def messages(repo: icechunk.Repository, **ref: str) -> list[str]:
    return [s.message for s in repo.ancestry(**ref)]  # type: ignore[arg-type]


def by_commit(repo: icechunk.Repository) -> dict[str, list[str]]:
    """V1 commit id -> every snapshot (over all branches and tags) copied from it."""
    found: dict[str, set[str]] = {}
    refs = [{"branch": b} for b in repo.list_branches()] + [{"tag": t} for t in repo.list_tags()]
    for ref in refs:
        for snapshot in repo.ancestry(**ref):
            commit = (snapshot.metadata or {}).get(V1_COMMIT_ID)
            if commit:
                found.setdefault(commit, set()).add(snapshot.id)
    return {commit: sorted(snapshots) for commit, snapshots in found.items()}


def read(repo: icechunk.Repository, path: str, **ref: str) -> Any:
    return zarr.open_group(repo.readonly_session(**ref).store, mode="r")[path]  # type: ignore[arg-type]


@pytest.mark.parametrize("service", ["sqlite", "postgres"], indirect=True)
def test_migrate_history_refs_values(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/legacy"
    ids = build(client, name)
    steps: list[MigrationProgress] = []
    report = client.migrate_v1_repo(name, on_progress=steps.append)

    assert report.target == f"{org.name}/legacy-icechunk" and report.ok and report.verified
    assert (report.commits, report.copied, report.already_copied) == (6, 6, 0)
    assert [s.done for s in steps if s.stage == "copy"] == list(range(7))
    assert sorted(report.branches) == ["dev", "main"]
    assert sorted(report.tags) == ["scratch-end", "v1.0", "v2.0"]
    assert {(c.kind, c.name) for c in report.checks} == {
        ("branch", "dev"),
        ("branch", "main"),
        ("tag", "scratch-end"),
        ("tag", "v1.0"),
        ("tag", "v2.0"),
    }
    assert {c.name: c.arrays for c in report.checks}["v1.0"] == 3

    target = client.get_repo(report.target)
    assert isinstance(target, icechunk.Repository)
    assert messages(target, branch="main") == [*MAIN[::-1], "Repository initialized"]
    assert messages(target, branch="dev") == ["scaled counts on dev", *MAIN[1::-1], "Repository initialized"]
    assert messages(target, tag="scratch-end")[0] == "scratch work"
    assert target.list_branches() == {"main", "dev"}  # the working branch of the deleted one is gone
    assert not any(b.startswith(TAG_BRANCH_PREFIX) for b in target.list_branches())
    copies = by_commit(target)
    assert all(len(snapshots) == 1 for snapshots in copies.values()) and set(copies) == set(ids.values())
    # the commit main and dev share is one snapshot, and the tags point at the copies of their commits
    assert target.lookup_tag("v1.0") == copies[ids[MAIN[1]]][0]
    assert target.lookup_tag("v2.0") == copies[ids[MAIN[2]]][0]
    tip = next(iter(target.ancestry(branch="main")))
    assert tip.metadata["author_email"] and tip.metadata["v1_commit_time"] and tip.metadata["v1_repo"] == name
    written = [s.written_at for s in target.ancestry(branch="main")]
    assert written == sorted(written, reverse=True)

    # values at each tag, read from the copy
    v1 = read(target, "temp", tag="v1.0")
    assert v1.shape == (4, 6) and v1.attrs["units"] == "K" and np.isnan(v1.fill_value)
    np.testing.assert_array_equal(v1[2:], np.full((2, 6), 7.5, dtype="float32"))
    np.testing.assert_array_equal(read(target, "counts", tag="v1.0")[:], np.arange(10))
    np.testing.assert_array_equal(read(target, "counts", branch="dev")[:], np.arange(10) * 100)
    v2 = read(target, "temp", tag="v2.0")
    assert v2.shape == (6, 6) and v2.attrs["units"] == "degC" and np.isnan(v2[4:]).all()
    with pytest.raises(KeyError):
        read(target, "counts", tag="v2.0")
    np.testing.assert_array_equal(read(target, "temp", branch="main")[5], np.full(6, -1, dtype="float32"))
    assert read(target, "obs/wind", branch="main")[:].tolist() == [1.0, 2.0, 3.0]

    # done already: a rerun copies nothing and verifies again
    again = client.migrate_v1_repo(name)
    assert (again.copied, again.already_copied) == (0, 6) and again.ok
    assert by_commit(target) == copies


class Stop(Exception):
    pass


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_interrupted_migration_resumes(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/legacy"
    ids = build(client, name)

    def stop_after(count: int) -> Any:
        def on_progress(step: MigrationProgress) -> None:
            if step.stage == "copy" and step.done == count:
                raise Stop(f"stopped after {count} commits")

        return on_progress

    with pytest.raises(Stop):
        client.migrate_v1_repo(name, to="resumed", on_progress=stop_after(3))
    target = client.get_repo(f"{org.name}/resumed")
    assert isinstance(target, icechunk.Repository)
    assert messages(target, branch="main")[:1] == [MAIN[2]] and not target.list_tags()
    with pytest.raises(Stop):  # this run goes on from the fourth commit
        client.migrate_v1_repo(name, to=f"{org.name}/resumed", on_progress=stop_after(5))

    report = client.migrate_v1_repo(name, to="resumed")
    assert (report.copied, report.already_copied) == (1, 5) and report.ok
    copies = by_commit(target)
    assert all(len(snapshots) == 1 for snapshots in copies.values()) and set(copies) == set(ids.values())
    assert messages(target, branch="main") == [*MAIN[::-1], "Repository initialized"]
    assert messages(target, branch="dev") == ["scaled counts on dev", *MAIN[1::-1], "Repository initialized"]

    # a repo of that name that is no migration of this one is left alone
    client.create_repo(f"{org.name}/taken")
    with pytest.raises(MigrationError, match="is not a migration of"):
        client.migrate_v1_repo(name, to="taken")
    with pytest.raises(MigrationError, match="only V1 repos"):
        client.migrate_v1_repo(f"{org.name}/taken")


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
@pytest.mark.usefixtures("home")
def test_verification_catches_a_difference_and_the_cli(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/legacy"
    build(client, name)
    cli = Cli(org.url, org.token)

    made = cli.json("repo", "migrate", name)
    assert made["ok"] and made["copied"] == 6 and made["target"] == f"{org.name}/legacy-icechunk"
    assert {c["name"] for c in made["checks"]} == {"dev", "main", "scratch-end", "v1.0", "v2.0"}
    text = cli("repo", "migrate", name).stdout
    assert "6 commits, 0 copied now, 6 copied by an earlier run" in text and "DIFFERS" not in text
    assert cli("repo", "tags", f"{org.name}/legacy-icechunk").stdout.count("v") >= 2

    target = client.get_repo(f"{org.name}/legacy-icechunk")
    assert isinstance(target, icechunk.Repository)
    session = target.writable_session("main")
    zarr.open_group(session.store)["temp"][0, 0] = 99  # type: ignore[index]
    session.commit("tampered")

    with pytest.raises(MigrationVerificationError) as caught:
        client.migrate_v1_repo(name)
    assert caught.value.report.mismatches == ["branch main: /temp: values differ at 0:2"]
    assert messages(target, branch="main")[0] == "tampered"  # nothing moved the branch back

    failed = cli("repo", "migrate", name, code=1)
    assert "DIFFERS" in failed.stdout and "branch main: /temp: values differ at 0:2" in failed.stderr
    assert f"{org.name}/legacy-icechunk differs from {name} in 1 place" in failed.stderr
    assert "not a migration" in cli("repo", "migrate", name, "--to", "legacy", code=1).stderr
