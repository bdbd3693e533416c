"""Repo administration against a live service: soft delete, listing and restoring deleted repos, changing
description and metadata, from the client and the command line; and no local-storage log noise."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import icechunk
import numpy as np
import pytest
import zarr

from arraylake import Client, icechunk_logs
from arraylake.exceptions import (
    ArraylakeConflictError,
    ArraylakeNotFoundError,
    ArraylakeValidationError,
)
from tests.support.cli import Cli
from tests.support.service import ArraylakeService, Org

CONCURRENCY_WARNING = "not safe for concurrent commits"


def write_array(client: Client, name: str) -> None:
    session = client.get_repo(name).writable_session("main")
    zarr.create_array(session.store, name="t", shape=(4,), chunks=(2,), dtype="int32")[:] = np.arange(4)
    session.commit("four numbers")


def read_array(client: Client, name: str) -> list[int]:
    store = client.get_repo(name).readonly_session("main").store
    return list(zarr.open_array(store, path="t")[:])


def soft_delete(client: Client, name: str) -> None:
    client.delete_repo(name, imsure=True, imreallysure=True, immediate=False)


# ----------------------------------------------------------------------------------- deleted repos


def test_soft_deleted_repo_is_listed_then_restored_with_its_data(service: ArraylakeService, org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/era5"
    client.create_repo(name, description="reanalysis")
    write_array(client, name)
    client.create_repo(f"{org.name}/kept")
    soft_delete(client, name)

    assert [r.name for r in client.list_repos(org.name)] == ["kept"]
    listed = {r.name: r for r in client.list_repos(org.name, include_deleted=True)}
    assert set(listed) == {"era5", "kept"}
    ghost, me = listed["era5"], client.get_user()
    assert ghost.deleted_at is not None and ghost.restorable_until is not None
    assert ghost.restorable_until - ghost.deleted_at == timedelta(
        seconds=service.settings.deletion_grace_seconds
    )
    assert str(ghost.deleted_by) == str(me.id) and ghost.deleted_by_email == me.email
    assert listed["kept"].deleted_at is None and listed["kept"].restorable_until is None
    with pytest.raises(ArraylakeNotFoundError):
        client.get_repo(name)

    restored = client.restore_repo(name)
    assert restored.name == "era5" and restored.deleted_at is None and restored.description == "reanalysis"
    assert read_array(client, name) == [0, 1, 2, 3]
    assert all(r.deleted_at is None for r in client.list_repos(org.name, include_deleted=True))
    with pytest.raises(ArraylakeConflictError, match=f"repo {name} exists and is not deleted"):
        client.restore_repo(name)


def test_a_deleted_name_is_held_and_restoring_a_taken_name_is_a_conflict(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/reused"
    client.create_repo(name)
    soft_delete(client, name)
    # The deleted repo keeps its name, so nobody can take it while it is restorable...
    with pytest.raises(ArraylakeConflictError, match=f"arraylake repo restore {name}") as held:
        client.create_repo(name)
    assert held.value.status_code == 409 and "can be restored until" in str(held.value)
    soft_delete(client, name)  # deleting it again changes nothing
    # ... until it is deleted for good; the name taken by a new repo cannot be restored over.
    client.delete_repo(name, imsure=True, imreallysure=True)
    client.create_repo(name, description="the new one")
    with pytest.raises(ArraylakeConflictError, match="exists and is not deleted") as taken:
        client.restore_repo(name)
    assert taken.value.status_code == 409
    assert client.get_repo_object(name).description == "the new one"
    with pytest.raises(ArraylakeNotFoundError, match="no deleted repo of that name to restore"):
        client.restore_repo(f"{org.name}/never-was")


def test_past_its_grace_period_a_repo_cannot_be_restored(fresh_service: ArraylakeService) -> None:
    fresh_service.start(
        {
            "ARRAYLAKE_SERVER_DELETION_GRACE_SECONDS": "1",
            "ARRAYLAKE_SERVER_JANITOR_INTERVAL_SECONDS": "0.2",
            "ARRAYLAKE_SERVER_DELETE_BATCH_SIZE": "1",
            "ARRAYLAKE_SERVER_FAULT_INJECTION": "delete:slowly",  # 0.2 s per object: time to ask
        }
    )
    org = fresh_service.new_org()
    client = Client(org.url, token=org.token)
    name = f"{org.name}/brief"
    client.create_repo(name)
    write_array(client, name)
    soft_delete(client, name)
    deadline = time.monotonic() + 30
    while client.list_repos(org.name, include_deleted=True):  # until the janitor takes it
        assert time.monotonic() < deadline, "the janitor never removed the repo"
        time.sleep(0.1)
    with pytest.raises(ArraylakeConflictError, match="can no longer be restored: its grace period is over"):
        client.restore_repo(name)


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_delete_list_and_restore_from_the_command_line(service: ArraylakeService, org: Org) -> None:
    cli, client = Cli(service.url, org.token), Client(org.url, token=org.token)
    name = f"{org.name}/cli-ghost"
    client.create_repo(name)
    write_array(client, name)

    deleted = cli("repo", "delete", name, "--soft", "--yes")
    assert f"arraylake repo restore {name}" in deleted.stdout
    assert [r["name"] for r in cli.json("repo", "list", org.name)] == []
    ghosts = cli.json("repo", "list", org.name, "--deleted")
    assert [g["name"] for g in ghosts] == ["cli-ghost"]
    assert ghosts[0]["deleted_at"] and ghosts[0]["restorable_until"] and ghosts[0]["deleted_by_email"]
    table = cli("repo", "list", org.name, "--deleted").stdout
    for header in ("Deleted (UTC)", "Deleted by", "Restorable until (UTC)", ghosts[0]["deleted_by_email"]):
        assert header in table
    assert ghosts[0]["restorable_until"][:10] in table

    assert cli("repo", "restore", name).stdout.strip() == f"Restored repo {name}."
    assert read_array(client, name) == [0, 1, 2, 3]
    assert cli.json("repo", "list", org.name, "--deleted") == []
    again = cli("repo", "restore", name, code=1)
    assert "exists and is not deleted" in again.error and "HTTP 409" in again.error


# ---------------------------------------------------------------------------- description and metadata


def test_modify_repo_each_change_and_its_conflicts(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/meta"
    client.create_repo(name, description="first", metadata={"project": "a", "stage": "raw"})

    assert client.modify_repo(name, description="second").description == "second"
    assert client.modify_repo(name, add_metadata={"owner": "ops"}).metadata == {
        "project": "a",
        "stage": "raw",
        "owner": "ops",
    }
    assert client.modify_repo(name, remove_metadata=["stage"]).metadata == {"project": "a", "owner": "ops"}
    updated = client.modify_repo(name, update_metadata={"project": "b", "year": 2024})
    assert updated.metadata == {"project": "b", "owner": "ops", "year": 2024}
    assert client.modify_repo(name, add_metadata={"owner": "ops"}).metadata == updated.metadata  # a retry
    assert [r.name for r in client.list_repos(org.name, filter_metadata={"project": "b"})] == ["meta"]
    assert client.list_repos(org.name, filter_metadata={"stage": "raw"}) == []

    with pytest.raises(ArraylakeConflictError, match="'owner' already exists; use update_metadata"):
        client.modify_repo(name, add_metadata={"owner": "someone else"})
    with pytest.raises(ArraylakeConflictError, match=r"'stage' does not exist.*'owner', 'project', 'year'"):
        client.modify_repo(name, remove_metadata=["stage"])
    with pytest.raises(ArraylakeValidationError, match="'year' is in both update_metadata and remove"):
        client.modify_repo(name, update_metadata={"year": 2025}, remove_metadata=["year"])
    with pytest.raises(ValueError, match="nothing to change"):
        client.modify_repo(name)
    # a refused change changes nothing, not even its valid parts
    with pytest.raises(ArraylakeConflictError):
        client.modify_repo(name, description="third", remove_metadata=["owner", "nope"])
    record = client.get_repo_object(name)
    assert record.description == "second" and record.metadata == updated.metadata

    assert client.modify_repo(name, description="").description is None


def test_get_or_create_repo_takes_description_and_metadata(org: Org) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/goc"
    client.get_or_create_repo(name, description="made here", metadata={"project": "goc"})
    record = client.get_repo_object(name)
    assert record.description == "made here" and record.metadata == {"project": "goc"}
    # an existing repo is opened as it is
    assert client.get_or_create_repo(name, description="other", metadata={"x": 1}) is not None
    assert client.get_repo_object(name).metadata == {"project": "goc"}


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_modify_from_the_command_line(service: ArraylakeService, org: Org) -> None:
    cli, client = Cli(service.url, org.token), Client(org.url, token=org.token)
    name = f"{org.name}/cli-meta"
    client.create_repo(name, metadata={"project": "a", "stage": "raw"})

    changed = cli.json(
        "repo", "modify", name, "-d", "described", "-a", "owner=ops", "-r", "stage", "-u", "project=b"
    )
    assert changed["description"] == "described"
    assert changed["metadata"] == {"project": "b", "owner": "ops"}
    # the hosted CLI's form: JSON objects
    changed = cli.json(
        "repo", "modify", name, "--add-metadata", '{"year": 2024}', "--update-metadata", '{"n": 1}'
    )
    assert changed["metadata"] == {"project": "b", "owner": "ops", "year": 2024, "n": 1}
    shown = cli("repo", "modify", name, "--description", "plain").stdout
    assert "plain" in shown and '"owner": "ops"' in shown

    conflict = cli("repo", "modify", name, "-a", "owner=x", code=1)
    assert "'owner' already exists; use update_metadata" in conflict.error
    missing = cli("repo", "modify", name, "-r", "stage", code=1)
    assert "'stage' does not exist" in missing.error
    assert "give --description" in cli("repo", "modify", name, code=2).stderr
    assert "invalid JSON" in cli("repo", "modify", name, "-a", "{", code=2).stderr
    assert "expected KEY=VALUE" in cli("repo", "modify", name, "-u", "novalue", code=2).stderr


# ------------------------------------------------------------------------------------- local storage


@pytest.fixture
def icechunk_default_logs(monkeypatch: pytest.MonkeyPatch):
    """Icechunk's default log filter, whatever earlier tests in this process set."""
    monkeypatch.delenv("ICECHUNK_LOG", raising=False)
    icechunk_logs.set_logs_filter(None)
    yield
    icechunk_logs.set_logs_filter(None)


@pytest.mark.usefixtures("icechunk_default_logs")
@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_opening_a_local_repo_hides_only_the_concurrency_warning(
    org: Org, capfd: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/quiet"
    client.create_repo(name)
    assert CONCURRENCY_WARNING not in capfd.readouterr().err

    client.get_repo(name)
    client.aclient.get_repo_blocking(name, read_only=True)
    client.get_icechunk_storage(name)
    assert CONCURRENCY_WARNING not in capfd.readouterr().err

    # outside the client, and once the client is done, the filter is Icechunk's own again
    icechunk.local_filesystem_storage(str(tmp_path / "direct"))
    assert CONCURRENCY_WARNING in capfd.readouterr().err

    # Python warnings of the client still surface
    with pytest.warns(UserWarning, match="in maintenance"):
        import httpx

        with httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}) as h:
            h.put(f"/orgs/{org.name}/quiet/status", json={"mode": "maintenance"}).raise_for_status()
        client.get_repo(name)

    # whoever sets ICECHUNK_LOG chose what to see
    monkeypatch.setenv("ICECHUNK_LOG", "warn")
    icechunk.set_logs_filter(None)
    client.get_icechunk_storage(name)
    assert CONCURRENCY_WARNING in capfd.readouterr().err
