"""Registering an Icechunk repository that already exists in a bucket."""

from __future__ import annotations

import icechunk
import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.exceptions import ArraylakeConflictError, ArraylakeValidationError
from tests.support.service import Org


def test_import_an_existing_repository(org: Org) -> None:
    client = Client(org.url, token=org.token)
    local = client.get_bucket_config(org=org.name, nickname="local")
    storage = icechunk.local_filesystem_storage(f"{local.extra_config['local_path']}/existing/era")
    session = icechunk.Repository.create(storage).writable_session("main")
    zarr.group(session.store).create_array("x", shape=(5,), dtype="i4")[:] = np.arange(5)
    session.commit("made outside Arraylake")

    repo = client.import_repo(
        f"{org.name}/era",
        bucket_config_nickname="local",
        prefix="existing/era",
        metadata={"origin": "import"},
    )
    np.testing.assert_array_equal(
        zarr.open_group(repo.readonly_session("main").store, mode="r")["x"][:], np.arange(5)
    )
    record = client.get_repo_object(f"{org.name}/era")
    assert record.prefix == "existing/era" and record.metadata == {"origin": "import"}

    with pytest.raises(ArraylakeValidationError, match="no Icechunk repository at prefix 'existing/none'"):
        client.import_repo(f"{org.name}/none", bucket_config_nickname="local", prefix="existing/none")
    with pytest.raises(ArraylakeConflictError, match="overlaps the prefix 'existing/era'"):
        client.import_repo(f"{org.name}/twice", bucket_config_nickname="local", prefix="existing/era")
    assert [r.name for r in client.list_repos(org.name)] == ["era"]
