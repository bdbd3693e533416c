"""``arraylake repo create --kind v1``, ``tree``, ``history``, ``branches`` and ``tags`` on V1 repos, against
a live service."""

from __future__ import annotations

import numpy as np
import pytest

from arraylake import Client
from arraylake.repos.v1 import Repo
from tests.support.cli import Cli
from tests.support.service import ArraylakeService, Org

pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.parametrize("service", ["sqlite"], indirect=True)]


@pytest.fixture(scope="module")
def org(service: ArraylakeService) -> Org:
    return service.new_org("cliv1")


@pytest.fixture
def cli(service: ArraylakeService, org: Org) -> Cli:
    return Cli(service.url, org.token)


@pytest.fixture(scope="module")
def legacy(service: ArraylakeService, org: Org) -> str:
    """A V1 repo made by the CLI: two commits on main, a branch ``dev`` with a commit of its own on the
    first, a tag on each commit of main."""
    name = f"{org.name}/legacy"
    Cli(service.url, org.token)("repo", "create", name, "--kind", "v1", "-d", "old data")
    repo = Client(service.url, token=org.token).get_repo(name, read_only=False)
    assert isinstance(repo, Repo)
    root = repo.root_group
    root.attrs["title"] = "legacy"
    t2m = root.create_array("t2m", shape=(4, 6), chunks=(2, 3), dtype="float32", attributes={"units": "K"})
    t2m[:] = np.ones((4, 6))
    first = repo.commit("temperature", checkout_for_writing=True)
    repo.new_branch("dev")
    repo.root_group["t2m"][0, :] = 2  # type: ignore[index]
    repo.commit("warmer on dev")
    repo.checkout("main", for_writing=True)
    surface = repo.root_group.create_group("surface", attributes={"level": 0})
    surface.create_array("sp", shape=(10,), chunks=(5,), dtype="int16")
    repo.commit("surface pressure")
    repo.tag("v1", first)
    repo.tag("release", "main", message="latest")
    return name


def test_create_v1(cli: Cli, org: Org) -> None:
    made = cli.json("repo", "create", f"{org.name}/made-v1", "--kind", "v1")
    assert made["kind"] == "v1" and made["name"] == "made-v1"
    assert cli.json("repo", "info", f"{org.name}/made-v1")["kind"] == "v1"
    text = cli("repo", "create", f"{org.name}/plain-v1", "--kind", "V1").stdout
    assert text.strip().startswith(f"Created repo {org.name}/plain-v1 in bucket local")
    refused = cli("repo", "create", f"{org.name}/prefixed", "--kind", "v1", "--prefix", "p", code=2)
    assert "V1 repos take no prefix" in refused.stderr
    assert "is not one of" in cli("repo", "create", f"{org.name}/odd", "--kind", "v2", code=2).stderr

    # an empty V1 repo: no commits, no tree, a main branch only once committed to
    empty = cli.json("repo", "tree", f"{org.name}/made-v1")
    assert empty == {"repo": f"{org.name}/made-v1", "ref": "main", "snapshot_id": None, "root": None}
    assert "has no groups or arrays yet" in cli("repo", "tree", f"{org.name}/made-v1").stdout
    assert cli.json("repo", "history", f"{org.name}/made-v1") == []
    assert cli.json("repo", "branches", f"{org.name}/made-v1") == []
    assert cli.json("repo", "tags", f"{org.name}/made-v1") == []


def test_tree(cli: Cli, legacy: str) -> None:
    found = cli.json("repo", "tree", legacy)
    root = found["root"]
    assert found["ref"] == "main" and root["kind"] == "group" and root["attributes"] == {"title": "legacy"}
    by_path = {m["path"]: m for m in root["members"]}
    assert by_path["/t2m"] == {
        "path": "/t2m",
        "attributes": {"units": "K"},
        "kind": "array",
        "shape": [4, 6],
        "chunks": [2, 3],
        "dtype": "float32",
    }
    assert [(m["path"], m["dtype"], m["shape"]) for m in by_path["/surface"]["members"]] == [
        ("/surface/sp", "int16", [10])
    ]
    history = cli.json("repo", "history", legacy)
    assert found["snapshot_id"] == history[0]["id"]

    text = cli("repo", "tree", legacy).stdout
    assert f"{legacy} @ main" in text and "legacy" in text
    assert "t2m  float32  (4 x 6)  chunks (2 x 3)" in text and "sp  int16  (10)  chunks (5)" in text

    for ref in ("v1", history[1]["id"]):  # a tag, a commit id
        at = cli.json("repo", "tree", legacy, "--ref", ref)
        assert [m["path"] for m in at["root"]["members"]] == ["/t2m"], ref
        assert at["snapshot_id"] == history[1]["id"]
    shallow = cli.json("repo", "tree", legacy, "--depth", "1")["root"]
    assert "members" not in {m["path"]: m for m in shallow["members"]}["/surface"]
    missing = cli("repo", "tree", legacy, "--ref", "nope", code=1).error
    assert missing.startswith("Error: ") and "'nope'" in missing


def test_history_branches_tags(cli: Cli, legacy: str) -> None:
    commits = cli.json("repo", "history", legacy)
    assert [c["message"] for c in commits] == ["surface pressure", "temperature"]
    newest, first = commits
    assert newest["parent_id"] == first["id"] and first["parent_id"] is None
    assert newest["written_at"] > first["written_at"] and newest["metadata"] == {}
    assert newest["author_email"]
    assert [c["message"] for c in cli.json("repo", "history", legacy, "-n", "1")] == ["surface pressure"]
    assert [c["message"] for c in cli.json("repo", "history", legacy, "-b", "v1")] == ["temperature"]
    text = cli("repo", "history", legacy).stdout
    assert f"History of {legacy} @ main" in text and newest["id"] in text and "surface pressure" in text

    on_dev = cli.json("repo", "history", legacy, "--branch", "dev")
    assert [c["message"] for c in on_dev] == ["warmer on dev", "temperature"]
    assert cli.json("repo", "branches", legacy) == [
        {"name": "dev", "snapshot_id": on_dev[0]["id"]},
        {"name": "main", "snapshot_id": newest["id"]},
    ]
    assert cli.json("repo", "tags", legacy) == [
        {"name": "release", "snapshot_id": newest["id"]},
        {"name": "v1", "snapshot_id": first["id"]},
    ]
    assert first["id"] in cli("repo", "tags", legacy).stdout
    assert "main" in cli("repo", "branches", legacy).stdout
