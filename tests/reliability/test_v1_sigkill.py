"""The service dies abruptly in the middle of a V1 commit (inside the commit's transaction, after the commit
is stored but before its branch moves, inside the branch's transaction), then restarts: every branch is on a
complete commit, nothing half-written is visible, and the client's commit either went through on its own
retries or reports a clear error, after which committing again lands the session."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.exceptions import ArraylakeError
from arraylake.repos.v1 import Repo
from arraylake.server import faults
from arraylake.types import RepoKind
from tests.conftest import make_service
from tests.support.processes import wait_until

pytestmark = pytest.mark.reliability


def _v1(client: Client, name: str, *, read_only: bool = False) -> Repo:
    repo = client.get_repo(name, read_only=read_only)
    assert isinstance(repo, Repo)
    return repo


def _write(repo: Repo, group: str, value: int) -> None:
    array = zarr.open_group(repo.store, mode="a", zarr_format=3).create_array(
        f"{group}/x", shape=(100,), chunks=(10,), dtype="i4"
    )
    array[:] = np.full(100, value, dtype="i4")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize(
    "point",
    [faults.V1_COMMIT_IN_TRANSACTION, faults.V1_COMMIT_BEFORE_BRANCH, faults.V1_BRANCH_IN_TRANSACTION],
)
def test_sigkill_mid_commit(point: str, backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    service = make_service(tmp_path, backend, request)
    service.start()
    try:
        org = service.new_org("v1kill")
        client = Client(org.url, token=org.token)
        name = f"{org.name}/killed"
        base = client.create_repo(name, kind=RepoKind.V1)
        assert isinstance(base, Repo)
        _write(base, "a", 1)
        first = base.commit("a")

        service.restart({"ARRAYLAKE_SERVER_FAULT_INJECTION": point})
        writer = _v1(client, name)
        _write(writer, "b", 2)
        outcome: dict[str, object] = {}

        def commit() -> None:
            try:
                outcome["commit"] = writer.commit("b")
            except ArraylakeError as exc:
                outcome["error"] = exc

        threading.Thread(target=commit, daemon=True).start()
        assert service.process is not None
        wait_until(lambda: not service.process.running, 60, f"the service to exit at {point}")  # type: ignore[union-attr]
        service.restart()  # without the fault: the client's retries may reach it now
        wait_until(lambda: bool(outcome), 120, "the client's commit to return")

        # every branch is on a commit that exists, whose chain holds exactly what was committed
        headers = {"authorization": f"Bearer {org.token}"}
        branches = httpx.get(f"{org.url}/repos/{name}/branches", headers=headers).json()
        assert [b["_id"] for b in branches] == ["main"]
        tip = branches[0]["commit_id"]
        assert httpx.get(f"{org.url}/repos/{name}/commits/{tip}", headers=headers).status_code == 200
        if "error" in outcome:
            error = outcome["error"]
            assert str(error).strip(), "the error says what went wrong"
            assert tip == first  # the branch did not move: the commit did not land
            reader = _v1(client, name, read_only=True)
            assert not zarr.open_group(reader.store, mode="r", zarr_format=3).__contains__("b")
            landed = writer.commit("b")  # the session's writes are still there: committing again lands them
        else:
            landed = outcome["commit"]
        reader = _v1(client, name, read_only=True)
        assert reader.session.base_commit == landed
        assert [c.message for c in reader.commit_log] == ["b", "a"]
        root = zarr.open_group(reader.store, mode="r", zarr_format=3)
        np.testing.assert_array_equal(root["a/x"][:], np.full(100, 1))
        np.testing.assert_array_equal(root["b/x"][:], np.full(100, 2))
    finally:
        service.stop()
