"""Soft delete and restore, retain_data, operation status, modifying repos and bucket configs, /user."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from arraylake import Client
from arraylake.exceptions import ArraylakeConflictError, ArraylakeNotFoundError, RepoOfflineError
from tests.support.service import Org


def http(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=30)


def repo_dir(client: Client, org: Org, name: str) -> Path:
    record = client.get_repo_object(f"{org.name}/{name}")
    local = client.get_bucket_config(org=org.name, nickname="local")
    return Path(str(local.extra_config["local_path"])) / record.prefix


def test_soft_delete_keeps_a_restorable_ghost(org: Org) -> None:
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/ghost")
    data = repo_dir(client, org, "ghost")
    client.delete_repo(f"{org.name}/ghost", imsure=True, imreallysure=True, immediate=False)

    with pytest.raises(ArraylakeNotFoundError):
        client.get_repo_object(f"{org.name}/ghost")
    assert client.list_repos(org.name) == []
    with http(org) as h:
        page = h.get(f"/orgs/{org.name}/repos/paginated", params={"include_ghosts": "true"}).json()
    assert [(r["name"], r["deleted_at"] is not None) for r in page["items"]] == [("ghost", True)]
    assert data.exists()  # data stays for the grace period
    with pytest.raises(ArraylakeConflictError, match="can be restored until"):
        client.create_repo(f"{org.name}/ghost")

    with http(org) as h:
        restored = h.post(f"/orgs/{org.name}/ghost/restore")
    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert client.get_repo(f"{org.name}/ghost") is not None

    # a ghost can be purged at once
    client.delete_repo(f"{org.name}/ghost", imsure=True, imreallysure=True, immediate=False)
    client.delete_repo(f"{org.name}/ghost", imsure=True, imreallysure=True)
    assert not data.exists()
    client.create_repo(f"{org.name}/ghost")


def test_retain_data_drops_only_the_catalog_entry(org: Org) -> None:
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/kept")
    data = repo_dir(client, org, "kept")
    prefix = client.get_repo_object(f"{org.name}/kept").prefix
    client.delete_repo(f"{org.name}/kept", imsure=True, imreallysure=True, retain_data=True)
    with pytest.raises(ArraylakeNotFoundError):
        client.get_repo_object(f"{org.name}/kept")
    assert data.exists() and any(data.iterdir())
    # ... and the data can be registered again
    again = client.import_repo(f"{org.name}/kept", bucket_config_nickname="local", prefix=prefix)
    assert again is not None


def test_operation_status(org: Org) -> None:
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/status")
    with http(org) as h:
        assert h.get(f"/orgs/{org.name}/status/status").json()["mode"] == "online"
        changed = h.put(
            f"/orgs/{org.name}/status/status", json={"mode": "maintenance", "message": "compacting"}
        )
        assert changed.status_code == 200 and changed.json()["mode"] == "maintenance"
        assert changed.json()["initiated_by"]["principal_id"]
    with pytest.warns(UserWarning, match="in maintenance and read-only: compacting") as caught:
        client.get_repo(f"{org.name}/status")
    # attributed to the caller's line, not to the client's (other warnings, e.g. a ResourceWarning from the
    # garbage collector, may be recorded in the same block)
    [maintenance] = [w for w in caught if "in maintenance" in str(w.message)]
    assert maintenance.filename == __file__
    with http(org) as h:
        h.put(f"/orgs/{org.name}/status/status", json={"mode": "offline"})
        assert h.put(f"/orgs/{org.name}/status/status", json={"mode": "sleeping"}).status_code == 422
    with pytest.raises(RepoOfflineError, match="is offline"):
        client.get_repo(f"{org.name}/status")
    assert client.get_repo_object(f"{org.name}/status").status.mode == "offline"


def test_modify_repo(org: Org) -> None:
    client = Client(org.url, token=org.token)
    client.create_repo(f"{org.name}/meta", metadata={"project": "a", "stage": "raw"}, description="first")
    with http(org) as h:
        response = h.patch(
            f"/orgs/{org.name}/meta",
            json={
                "description": "second",
                "add_metadata": {"owner": "ops"},
                "remove_metadata": ["stage"],
                "update_metadata": {"project": "b"},
            },
        )
    assert response.status_code == 200, response.text
    record = client.get_repo_object(f"{org.name}/meta")
    assert record.description == "second"
    assert record.metadata == {"project": "b", "owner": "ops"}
    assert [r.name for r in client.list_repos(org.name, filter_metadata={"project": "b"})] == ["meta"]
    assert client.list_repos(org.name, filter_metadata={"stage": "raw"}) == []


def test_modify_bucket_config(org: Org) -> None:
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="spare", uri="file://spare")
    renamed = client.modify_bucket_config(org=org.name, nickname="spare", new_nickname="reserve")
    assert renamed.nickname == "reserve"
    with pytest.raises(ArraylakeConflictError, match="'local' already exists"):
        client.modify_bucket_config(org=org.name, nickname="reserve", new_nickname="local")
    client.create_repo(f"{org.name}/user-of-local")
    bucket_id = client.get_bucket_config(org=org.name, nickname="local").id
    with http(org) as h:
        moved = h.patch(f"/orgs/{org.name}/buckets/{bucket_id}", json={"name": "elsewhere"})
    assert moved.status_code == 409 and "user-of-local" in moved.json()["detail"]


def test_user_and_orgs(org: Org) -> None:
    with http(org) as h:
        user = h.get("/user").json()
        orgs = h.get("/user/orgs").json()
        assert h.post("/user/diagnostics", json={"system": {}}).status_code == 204
    assert user["email"] == "admin@example.com" and user["client_id"] == user["id"]
    assert "first_name" not in user  # an API client, not a user
    assert [o["name"] for o in orgs] == [org.name]
