"""Local buckets: the service never follows a symbolic link out of a repo, and keeps its files private.

Clients write into local bucket directories themselves, so a link planted in one org's repo may point at
another org's files. Deleting the repo, checking that a new repo's prefix is empty, and importing must
leave whatever a link points at alone.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import httpx
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.exceptions import ArraylakeHttpError
from tests.support.processes import wait_until
from tests.support.service import ArraylakeService, Org


def _repo_dir(service: ArraylakeService, org: Org, repo: str) -> Path:
    prefix = Client(org.url, token=org.token).get_repo_object(f"{org.name}/{repo}").prefix
    return service.settings.storage_root / org.name / "local" / prefix


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (not following links) with its content."""
    found = {}
    for where, _, names in os.walk(root, followlinks=False):
        for name in names:
            path = Path(where) / name
            found[str(path.relative_to(root))] = path.read_bytes()
    return found


def _delete(org: Org, repo: str) -> httpx.Response:
    return httpx.delete(
        f"{org.url}/orgs/{org.name}/{repo}",
        params={"immediate": "true"},
        headers={"authorization": f"Bearer {org.token}"},
        timeout=60,
    )


@pytest.fixture
def victim(service: ArraylakeService) -> tuple[Org, Path]:
    """Org B with a repo holding data; returns the org and the repo's directory."""
    org_b = service.new_org("victim")
    repo = Client(org_b.url, token=org_b.token).create_repo(f"{org_b.name}/precious")
    session = repo.writable_session("main")
    zarr.group(session.store).create_array("x", shape=(4,), chunks=(2,), dtype="i4")[:] = np.arange(4)
    session.commit("data")
    return org_b, _repo_dir(service, org_b, "precious")


def test_deleting_a_repo_removes_links_not_their_targets(
    service: ArraylakeService, victim: tuple[Org, Path]
) -> None:
    org_b, b_dir = victim
    before = _files(b_dir)
    a_file = next(iter(before))
    org_a = service.new_org("attacker")
    client_a = Client(org_a.url, token=org_a.token)
    client_a.create_repo(f"{org_a.name}/planted")
    client_a.create_repo(f"{org_a.name}/swapped")
    planted = _repo_dir(service, org_a, "planted")
    own = _files(planted)
    assert own
    os.symlink(b_dir, planted / "escape")
    os.symlink(b_dir / a_file, planted / "linked-file")
    (planted / "chunks").mkdir(exist_ok=True)
    os.symlink(b_dir, planted / "chunks" / "deeper")
    swapped = _repo_dir(service, org_a, "swapped")
    shutil.rmtree(swapped)
    os.symlink(b_dir, swapped)

    assert _delete(org_a, "planted").status_code == 204
    assert _delete(org_a, "swapped").status_code == 204

    assert _files(b_dir) == before, "org B's files must survive the deletion of org A's repos"
    assert not os.path.lexists(planted), "org A's repo (files and links) is gone"
    assert not os.path.lexists(swapped), "the link that stood for org A's repo directory is gone"
    reopened = Client(org_b.url, token=org_b.token).get_repo(f"{org_b.name}/precious")
    group = zarr.open_group(reopened.readonly_session("main").store, mode="r")
    np.testing.assert_array_equal(group["x"][:], np.arange(4))
    log = service.log_text()
    assert log.count("symbolic link removed, its target left alone") >= 4
    assert org_a.token not in log


def test_a_link_above_the_repo_directory_is_refused(
    service: ArraylakeService, victim: tuple[Org, Path]
) -> None:
    _, b_dir = victim
    before = _files(b_dir)
    org_a = service.new_org("attacker")
    client_a = Client(org_a.url, token=org_a.token)
    client_a.create_bucket_config(org=org_a.name, nickname="nested", uri="file://local/sub")
    client_a.create_repo(f"{org_a.name}/inside", bucket_config_nickname="nested")
    sub = service.settings.storage_root / org_a.name / "local" / "sub"
    inside = _repo_dir(service, org_a, "inside")
    decoy = b_dir.parent / inside.name  # where the link would lead the deletion: a copy of B's repo
    shutil.copytree(b_dir, decoy)
    sub.rename(sub.with_name("sub-real"))
    os.symlink(b_dir.parent, sub)
    try:
        answer = _delete(org_a, "inside")
        assert answer.status_code == 202 and "failed and will be retried" in answer.json()["detail"]
        assert _files(b_dir) == before
        assert _files(decoy) == before
        assert "symbolic link refused" in service.log_text()
    finally:
        sub.unlink()
        sub.with_name("sub-real").rename(sub)
    # once the link is gone, the janitor finishes the job
    wait_until(lambda: not inside.exists(), 30, "the janitor to remove the repo")
    assert _files(decoy) == before
    shutil.rmtree(decoy)


def test_a_new_repo_prefix_holding_a_link_is_refused(
    service: ArraylakeService, victim: tuple[Org, Path], tmp_path: Path
) -> None:
    _, b_dir = victim
    before = _files(b_dir)
    org_a = service.new_org("attacker")
    client_a = Client(org_a.url, token=org_a.token)
    bucket_dir = service.settings.storage_root / org_a.name / "local"
    (bucket_dir / "holds-link").mkdir()
    os.symlink(b_dir, bucket_dir / "holds-link" / "chunks")
    elsewhere = tmp_path / "empty-elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, bucket_dir / "is-link")

    for name in ("holds-link", "is-link"):
        with pytest.raises(ArraylakeHttpError, match="symbolic link") as refused:
            client_a.create_repo(f"{org_a.name}/{name}", prefix=name)
        assert refused.value.status_code == 424
    assert list(elsewhere.iterdir()) == [], "no repo was created through the link"
    assert _files(b_dir) == before
    assert [r.name for r in client_a.list_repos(org_a.name)] == []


def test_importing_through_a_link_is_refused(service: ArraylakeService, victim: tuple[Org, Path]) -> None:
    _, b_dir = victim
    org_a = service.new_org("attacker")
    os.symlink(b_dir, service.settings.storage_root / org_a.name / "local" / "borrowed")
    client_a = Client(org_a.url, token=org_a.token)
    with pytest.raises(ArraylakeHttpError, match="symbolic link"):
        client_a.import_repo(f"{org_a.name}/borrowed", bucket_config_nickname="local", prefix="borrowed")
    assert [r.name for r in client_a.list_repos(org_a.name)] == []


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_server_files_and_directories_are_private(tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path)
    try:
        init = service.cli("server", "init", "--data-dir", str(service.data_dir), "--org", "modes")
        token = init.stdout.strip().splitlines()[-1]
        service.start()
        client = Client(service.url, token=token)
        client.create_bucket_config(org="modes", nickname="second", uri="file://second")
        client.create_repo("modes/repo")
        data, storage = service.data_dir, service.settings.storage_root
        for directory in (
            data,
            storage,
            storage / "modes",
            storage / "modes" / "local",
            storage / "modes" / "second",
        ):
            assert _mode(directory) == 0o700, directory
        for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm", "secret.key", "signing-key.pem"):
            assert (data / name).exists(), name
            assert _mode(data / name) == 0o600, name
    finally:
        service.stop()
