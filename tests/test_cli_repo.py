"""``arraylake repo ...`` against a live service: the catalog, what is inside a repo, and access."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from arraylake import Client
from tests.support.cli import Cli, CliUser, create_user
from tests.support.service import ArraylakeService, Org

pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.parametrize("service", ["sqlite"], indirect=True)]


@pytest.fixture(scope="module")
def org(service: ArraylakeService) -> Org:
    return service.new_org("clirepo")


@pytest.fixture(scope="module")
def filled(service: ArraylakeService, org: Org) -> str:
    """A repo with two commits on main, a group, two arrays, a branch and a tag."""
    name = f"{org.name}/filled"
    client = Client(service.url, token=org.token)
    repo = client.create_repo(name, description="weather", metadata={"project": "era5", "year": 2024})
    session = repo.writable_session("main")
    root = zarr.group(session.store, attributes={"title": "ERA5 subset"})
    t2m = root.create_array("t2m", shape=(4, 6), chunks=(2, 3), dtype="float32", attributes={"units": "K"})
    t2m[:] = np.ones((4, 6))
    first = session.commit("temperature")
    session = repo.writable_session("main")
    surface = zarr.open_group(session.store).create_group("surface", attributes={"level": 0})
    surface.create_array("sp", shape=(10,), chunks=(5,), dtype="int16")
    session.commit("surface pressure")
    repo.create_tag("v1", first)
    repo.create_branch("dev", first)
    return name


@pytest.fixture
def cli(service: ArraylakeService, org: Org) -> Cli:
    return Cli(service.url, org.token)


def test_create_list_filter_info(cli: Cli, org: Org) -> None:
    made = cli.json(
        "repo", "create", f"{org.name}/made", "-d", "made by the CLI", "-m", "project=cli", "-m", "year=2025"
    )
    assert made["name"] == "made" and made["metadata"] == {"project": "cli", "year": 2025}
    assert made["bucket"]["nickname"] == "local" and made["description"] == "made by the CLI"
    plain = cli("repo", "create", f"{org.name}/plain", "--bucket", "local", "--prefix", "plain-prefix")
    assert plain.stdout.strip() == f"Created repo {org.name}/plain in bucket local (prefix plain-prefix)."

    names = [r["name"] for r in cli.json("repo", "list", org.name)]
    assert {"made", "plain"} <= set(names) and names == sorted(names)
    assert [r["name"] for r in cli.json("repo", "list", org.name, "--filter", "year=2025")] == ["made"]
    assert [
        r["name"] for r in cli.json("repo", "list", org.name, "-f", "project=cli", "-f", "year=2024")
    ] == []
    table = cli("repo", "list", org.name).stdout
    assert f"Repos of {org.name}" in table and "made by the CLI" in table and '"project": "cli"' in table
    assert "online" in table
    # an API client belongs to one org: the org may be left out
    assert {"made", "plain"} <= {r["name"] for r in cli.json("repo", "list")}

    info = cli.json("repo", "info", f"{org.name}/made")
    assert info["org"] == org.name and info["status"]["mode"] == "online" and info["kind"] == "icechunk"
    text = cli("repo", "info", f"{org.name}/plain").stdout
    assert "plain-prefix" in text and "local (local)" in text and "online" in text

    taken = cli("repo", "create", f"{org.name}/made", code=1)
    assert "HTTP 409" in taken.error
    reserved = cli("repo", "create", f"{org.name}/settings", code=1)
    assert "reserved" in reserved.error


def test_bad_names_and_missing_repos_are_one_line(cli: Cli, org: Org) -> None:
    assert cli("repo", "info", "just-a-repo", code=1).error == (
        "Error: repo names have the form ORG/REPO, got 'just-a-repo'"
    )
    missing = cli("repo", "info", f"{org.name}/nothing-here", code=1)
    assert missing.error.startswith(f"Error: repo {org.name}/nothing-here not found (HTTP 404")
    assert cli("repo", "tree", f"{org.name}/nothing-here", code=1).error.startswith("Error: ")
    other = cli("repo", "list", "some-other-org", code=1)
    assert "HTTP 404" in other.error


def test_tree(cli: Cli, filled: str) -> None:
    found = cli.json("repo", "tree", filled)
    root = found["root"]
    assert (
        found["ref"] == "main" and root["kind"] == "group" and root["attributes"] == {"title": "ERA5 subset"}
    )
    by_path = {m["path"]: m for m in root["members"]}
    assert by_path["/t2m"] == {
        "path": "/t2m",
        "attributes": {"units": "K"},
        "kind": "array",
        "shape": [4, 6],
        "chunks": [2, 3],
        "dtype": "float32",
    }
    surface = by_path["/surface"]
    assert surface["kind"] == "group" and surface["attributes"] == {"level": 0}
    assert [(m["path"], m["dtype"], m["shape"]) for m in surface["members"]] == [
        ("/surface/sp", "int16", [10])
    ]

    text = cli("repo", "tree", filled).stdout
    assert f"{filled} @ main" in text and "ERA5 subset" in text
    assert "t2m  float32  (4 x 6)  chunks (2 x 3)" in text and '{"units": "K"}' in text
    assert "surface/" in text and "sp  int16  (10)  chunks (5)" in text

    # at the tag (and the branch made from the first commit) there is no surface group yet
    for ref in ("v1", "dev"):
        at = cli.json("repo", "tree", filled, "--ref", ref)
        assert [m["path"] for m in at["root"]["members"]] == ["/t2m"], ref
    first = cli.json("repo", "history", filled, "--branch", "dev")[0]["id"]
    assert cli.json("repo", "tree", filled, "-r", first)["snapshot_id"] == first
    shallow = cli.json("repo", "tree", filled, "--depth", "1")["root"]
    assert "members" not in {m["path"]: m for m in shallow["members"]}["/surface"]
    assert cli("repo", "tree", filled, "--ref", "nope", code=1).error == (
        f"Error: {filled} has no branch, tag or snapshot 'nope'"
    )


def test_history_branches_tags(cli: Cli, filled: str) -> None:
    commits = cli.json("repo", "history", filled)
    assert [c["message"] for c in commits] == ["surface pressure", "temperature", "Repository initialized"]
    assert commits[0]["author_email"] == "admin@example.com" and commits[0]["parent_id"] == commits[1]["id"]
    assert commits[0]["written_at"] > commits[1]["written_at"]
    assert [c["message"] for c in cli.json("repo", "history", filled, "--limit", "1")] == ["surface pressure"]
    assert cli.json("repo", "history", filled, "-b", "dev")[0]["message"] == "temperature"
    text = cli("repo", "history", filled).stdout
    assert commits[0]["id"] in text and "surface pressure" in text and "<admin@example.com>" in text

    branches = cli.json("repo", "branches", filled)
    assert [b["name"] for b in branches] == ["dev", "main"]
    assert {b["name"]: b["snapshot_id"] for b in branches} == {
        "dev": commits[1]["id"],
        "main": commits[0]["id"],
    }
    assert cli.json("repo", "tags", filled) == [{"name": "v1", "snapshot_id": commits[1]["id"]}]
    assert commits[1]["id"] in cli("repo", "tags", filled).stdout
    assert "main" in cli("repo", "branches", filled).stdout


def test_grants(service: ArraylakeService, cli: Cli, org: Org, filled: str) -> None:
    carol: CliUser = create_user(service, "carol")
    as_carol = Cli(service.url, carol.token)
    assert as_carol("repo", "info", filled, code=1).error.startswith("Error: ")  # not in the org: invisible

    granted = cli.json("repo", "grant", filled, carol.email, "CAN_READ", "can_write")
    assert [(g["email"], sorted(g["actions"])) for g in granted] == [(carol.email, ["CAN_READ", "CAN_WRITE"])]
    assert as_carol.json("repo", "info", filled)["name"] == "filled"
    assert as_carol.json("repo", "history", filled, "-n", "1")[0]["message"] == "surface pressure"
    table = cli("repo", "grants", filled).stdout
    assert carol.email in table and "CAN_READ CAN_WRITE" in table

    left = cli.json("repo", "revoke", filled, carol.email, "CAN_WRITE")
    assert [g["actions"] for g in left] == [["CAN_READ"]]
    assert cli.json("repo", "revoke", filled, carol.email) == []
    assert cli.json("repo", "grants", filled) == []
    bad = cli("repo", "grant", filled, carol.email, "CAN_FLY", code=2)
    assert "'CAN_FLY' is not one of" in bad.error


def test_delete_asks_first(cli: Cli, org: Org) -> None:
    name = f"{org.name}/doomed"
    cli("repo", "create", name)
    kept = cli("repo", "delete", name, input="n\n", code=1)
    assert f"Delete repo {name} and all its data? [y/N]" in kept.stderr and "Aborted" in kept.stderr
    assert cli.json("repo", "info", name)["name"] == "doomed"
    gone = cli("repo", "delete", name, input="y\n")
    assert gone.stdout.strip().endswith(f"Deleted repo {name}.")  # the runner echoes the answer
    assert "HTTP 404" in cli("repo", "info", name, code=1).error

    cli("repo", "create", name)
    assert cli("repo", "delete", name, "--yes", "--retain-data").stdout.strip() == f"Deleted repo {name}."
    missing = cli("repo", "delete", name, "--yes", code=1)
    assert "not found" in missing.error
