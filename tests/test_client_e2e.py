"""Every documented client method, sync and async, on SQLite and PostgreSQL, on a local directory and S3.

The service is a real process on 127.0.0.1; storage is a real directory or SeaweedFS.
"""

from __future__ import annotations

from pathlib import Path

import icechunk
import numpy as np
import pytest
import zarr

from arraylake.exceptions import ArraylakeConflictError, ArraylakeNotFoundError, BucketNotFoundError
from arraylake.types import BucketResponse, Platform, Repo
from tests.support.clients import make_client
from tests.support.seaweed import SeaweedFS
from tests.support.service import Org


def bucket_args(storage: str, seaweed: SeaweedFS | None, bucket: str | None) -> dict:
    if storage == "s3":
        assert seaweed is not None and bucket is not None
        return seaweed.bucket_config(bucket)
    return {"uri": "file://scenario-data"}


def objects_under(
    storage: str, seaweed: SeaweedFS | None, bucket_cfg: BucketResponse, bucket: str | None, prefix: str
) -> int:
    if storage == "s3":
        assert seaweed is not None and bucket is not None
        return len(seaweed.keys(bucket, prefix + "/"))
    path = Path(str(bucket_cfg.extra_config["local_path"])) / prefix
    return sum(1 for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def write_array(repo: icechunk.Repository, values: np.ndarray, message: str) -> str:
    session = repo.writable_session("main")
    root = zarr.group(session.store)
    array = root.require_array("values", shape=values.shape, chunks=(4,), dtype=values.dtype)
    array[:] = values
    return session.commit(message)


def read_array(repo: icechunk.Repository) -> np.ndarray:
    return zarr.open_group(repo.readonly_session("main").store, mode="r")["values"][:]


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("storage", ["local", "s3"])
async def test_every_method(org: Org, mode: str, storage: str, request: pytest.FixtureRequest) -> None:
    seaweed = request.getfixturevalue("seaweed") if storage == "s3" else None
    bucket = request.getfixturevalue("s3_bucket") if storage == "s3" else None
    client = make_client(mode, org.url, org.token)
    o = org.name

    # bucket configs: create, list, get, set default
    created = await client.create_bucket_config(
        org=o, nickname="scenario", **bucket_args(storage, seaweed, bucket)
    )
    assert isinstance(created, BucketResponse)
    assert created.platform == (Platform.S3_COMPATIBLE if storage == "s3" else Platform.LOCAL)
    assert created.is_default is False
    listed = await client.list_bucket_configs(o)
    assert sorted(b.nickname for b in listed) == ["local", "scenario"]
    await client.set_default_bucket_config(org=o, nickname="scenario")
    got = await client.get_bucket_config(org=o, nickname="scenario")
    assert got.id == created.id and got.is_default is True
    assert (await client.get_bucket_config(org=o, nickname="local")).is_default is False
    with pytest.raises(BucketNotFoundError, match="no bucket config named 'nope'"):
        await client.get_bucket_config(org=o, nickname="nope")

    # create_repo in the (new) default bucket, write and commit
    values = np.arange(20, dtype="f8")
    repo = await client.create_repo(f"{o}/first", metadata={"project": "era5", "tags": ["a", "b"]})
    assert isinstance(repo, icechunk.Repository)
    first_commit = write_array(repo, values, "first values")

    # get_repo_object
    record = await client.get_repo_object(f"{o}/first")
    assert isinstance(record, Repo)
    assert record.name == "first" and record.org == o and record.bucket is not None
    assert record.bucket.nickname == "scenario" and record.metadata == {"project": "era5", "tags": ["a", "b"]}
    assert record.prefix.endswith("-first")

    # get_repo reads back what was committed, with the principal as default author
    opened = await client.get_repo(f"{o}/first")
    np.testing.assert_array_equal(read_array(opened), values)
    assert next(iter(opened.ancestry(branch="main"))).id == first_commit
    second = write_array(opened, values * 2, "doubled")
    snapshot = next(iter(opened.ancestry(branch="main")))
    assert snapshot.id == second and snapshot.metadata.get("author_email") == "admin@example.com"

    # get_or_create_repo: opens an existing repo, creates a missing one (in a named bucket)
    again = await client.get_or_create_repo(f"{o}/first")
    np.testing.assert_array_equal(read_array(again), values * 2)
    with pytest.raises(ValueError, match="exists in bucket 'scenario'"):
        await client.get_or_create_repo(f"{o}/first", bucket_config_nickname="local")
    made = await client.get_or_create_repo(f"{o}/second", bucket_config_nickname="scenario")
    write_array(made, values + 1, "second repo")

    # list_repos (all pages, with a metadata filter) and list_repos_for_bucket_config
    assert [r.name for r in await client.list_repos(o)] == ["first", "second"]
    assert [r.name for r in await client.list_repos(o, filter_metadata={"tags": "b"})] == ["first"]
    assert [r.name for r in await client.list_repos(o, filter_metadata={"project": "nope"})] == []
    assert sorted(r.name for r in await client.list_repos_for_bucket_config(org=o, nickname="scenario")) == [
        "first",
        "second",
    ]
    assert await client.list_repos_for_bucket_config(org=o, nickname="local") == []

    # get_icechunk_storage: icechunk used directly on the repo's storage
    storage_obj = await client.get_icechunk_storage(f"{o}/first")
    assert icechunk.Repository.exists(storage_obj)
    np.testing.assert_array_equal(read_array(icechunk.Repository.open(storage_obj)), values * 2)

    # virtual chunk container credentials for the bucket
    credential = await client.get_icechunk_container_credentials_from_bucket(o, "scenario")
    if storage == "s3":
        assert isinstance(credential, icechunk.S3Credentials.Static)
    else:
        assert credential is icechunk.credentials.LocalFileSystemAccess
    mapped = await client.containers_credentials_for_buckets(o, {"s3://scenario/": "scenario"})
    assert list(mapped) == ["s3://scenario/"]
    assert isinstance(
        mapped["s3://scenario/"], icechunk.Credentials.S3 | icechunk.Credentials.LocalFileSystemAccess
    )

    # a bucket config in use cannot be deleted; the refusal names the repos
    with pytest.raises(ArraylakeConflictError, match=r"used by repos first, second"):
        await client.delete_bucket_config(org=o, nickname="scenario", imsure=True, imreallysure=True)

    # delete_repo removes the data under the repo's prefix and frees the name
    scenario_bucket = await client.get_bucket_config(org=o, nickname="scenario")
    assert objects_under(storage, seaweed, scenario_bucket, bucket, record.prefix) > 0
    with pytest.raises(ValueError, match="really sure"):
        await client.delete_repo(f"{o}/first", imsure=True)
    await client.delete_repo(f"{o}/first", imsure=True, imreallysure=True)
    await client.delete_repo(f"{o}/second", imsure=True, imreallysure=True)
    assert objects_under(storage, seaweed, scenario_bucket, bucket, record.prefix) == 0
    with pytest.raises(ArraylakeNotFoundError, match=f"repo {o}/first not found"):
        await client.get_repo_object(f"{o}/first")
    assert await client.list_repos(o) == []
    reborn = await client.create_repo(f"{o}/first")
    assert (await client.get_repo_object(f"{o}/first")).prefix != record.prefix
    assert icechunk.Repository.exists(reborn.storage)
    await client.delete_repo(f"{o}/first", imsure=True, imreallysure=True)

    # delete_bucket_config once unused
    await client.delete_bucket_config(org=o, nickname="scenario", imsure=True, imreallysure=True)
    assert [b.nickname for b in await client.list_bucket_configs(o)] == ["local"]
