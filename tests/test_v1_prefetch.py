"""Reads of a V1 repo's read session fetch chunk references a window at a time, not one request per chunk,
and read the same values as a write session (which never reads ahead): whole arrays, strided selections,
chunks never written, several arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import zarr

from arraylake import Client
from arraylake.repos.v1 import Repo
from arraylake.repos.v1.prefetch import chunk_coords, chunk_key
from arraylake.types import RepoKind
from tests.support.service import Org


def _count_bulk_gets(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of paths of each ``_bulk_get`` of chunk references the repo sends from now on."""
    sizes: list[int] = []
    db = repo._arepo.db
    request = db._request

    async def counting(method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/contents/chunks/_bulk_get"):
            sizes.append(len(kwargs["json_body"]))
        return await request(method, path, **kwargs)

    monkeypatch.setattr(db, "_request", counting)
    return sizes


def test_chunk_keys_round_trip() -> None:
    assert chunk_coords("a/b/c/3/4") == ("a/b", (3, 4))
    assert chunk_coords("c/0") == ("", (0,))
    assert chunk_coords("a/zarr.json") is None
    assert chunk_key("a/b", (3, 4)) == "a/b/c/3/4" and chunk_key("", (0,)) == "c/0"


def test_a_read_fetches_references_a_window_at_a_time(org: Org, monkeypatch: pytest.MonkeyPatch) -> None:
    client = Client(org.url, token=org.token)
    name = f"{org.name}/prefetch"
    writer = client.create_repo(name, kind=RepoKind.V1)
    assert isinstance(writer, Repo)
    root = zarr.open_group(writer.store, mode="a", zarr_format=3)
    values = np.arange(40 * 30, dtype="i4").reshape(40, 30)
    big = root.create_array("big", shape=(40, 30), chunks=(2, 3), dtype="i4", fill_value=-1)  # 200 chunks
    big[:] = values
    sparse = root.create_array("sparse", shape=(100,), chunks=(1,), dtype="i4", fill_value=-1)
    sparse[10:20] = 7  # the other 90 chunks were never written
    writer.commit("arrays")

    reader = client.get_repo(name)
    assert isinstance(reader, Repo)
    sizes = _count_bulk_gets(reader, monkeypatch)
    group = zarr.open_group(reader.store, mode="r", zarr_format=3)
    np.testing.assert_array_equal(group["big"][:], values)
    assert sum(sizes) >= 200 and len(sizes) <= 12, sizes  # windows of 32, 64, 128, not 200 requests
    np.testing.assert_array_equal(group["big"][::7, 1::5], values[::7, 1::5])
    expected = np.full(100, -1, dtype="i4")
    expected[10:20] = 7
    np.testing.assert_array_equal(group["sparse"][:], expected)

    # a fresh store over a strided read, and a write session (no read-ahead) read the same
    np.testing.assert_array_equal(
        zarr.open_array(reader.store, path="big", mode="r")[3::9, ::4], values[3::9, ::4]
    )
    again = client.get_repo(name, read_only=False)
    assert isinstance(again, Repo)
    np.testing.assert_array_equal(zarr.open_array(again.store, path="big", mode="r")[:], values)
