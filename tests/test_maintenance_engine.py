"""The maintenance engine on real storage (a local directory and SeaweedFS): expiration keeps every branch
and tag and the extra roots and removes exactly what the dry run predicted, the dry run changes nothing,
garbage collection deletes what its dry run counted, and a writer's uncommitted chunks survive it."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import icechunk
import numpy as np
import pytest
import zarr

from arraylake.server.maintenance.engine import (
    KEEP_PREFIX,
    RepoTarget,
    collect,
    expire,
    measure,
    open_repository,
)
from arraylake.server.maintenance.preview import preview
from arraylake.storage import credentials_from_bucket, icechunk_storage
from arraylake.types import BucketResponse
from arraylake.types.maintenance import (
    EffectiveMaintenance,
    ExpirationConfig,
    GCConfig,
    OptimizationWindow,
)
from tests.support.seaweed import SeaweedFS

SHAPE = (16,)
CHUNKS = (4,)


def policy(
    *,
    expire_older_than: timedelta,
    gc_margin: timedelta = timedelta(0),
    roots: set[str] | None = None,
) -> EffectiveMaintenance:
    return EffectiveMaintenance(
        window=OptimizationWindow(duration=timedelta(hours=6), start_time=clock(2), day_of_week=6),
        window_source="service",
        expiration=ExpirationConfig(expire_versions_older_than=expire_older_than, enabled=True),
        expiration_source="repo",
        gc=GCConfig(extra_gc_roots=roots or set(), enabled=True),
        gc_source="repo",
        gc_margin=gc_margin,
        next_window_start=None,
    )


@dataclass
class Store:
    """A bucket config, and how to list what is in the repo's prefix (key -> size)."""

    target: RepoTarget
    objects: Callable[[], dict[str, int]]


def local_store(root: Path) -> Store:
    bucket = BucketResponse.model_validate(
        {
            "id": str(uuid.uuid4()),
            "nickname": "local",
            "platform": "local",
            "name": "local",
            "is_default": True,
            "extra_config": {"local_path": str(root)},
        }
    )
    prefix = f"repo-{uuid.uuid4().hex[:8]}"

    def objects() -> dict[str, int]:
        found = {}
        for directory, _, files in os.walk(root / prefix):
            for name in files:
                path = Path(directory) / name
                found[str(path.relative_to(root))] = path.stat().st_size
        return found

    return Store(RepoTarget("org", "repo", bucket, prefix, None), objects)


def s3_store(seaweed: SeaweedFS, name: str) -> Store:
    config = seaweed.bucket_config(name)
    bucket = BucketResponse.model_validate(
        {
            "id": str(uuid.uuid4()),
            "nickname": "weed",
            "platform": "s3-compatible",
            "name": name,
            "is_default": True,
            "extra_config": config["extra_config"],
            "auth_config": config["auth_config"],
        }
    )
    prefix = f"repo-{uuid.uuid4().hex[:8]}"

    def objects() -> dict[str, int]:
        client = seaweed.s3()
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=name, Prefix=prefix + "/")
        return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}

    return Store(RepoTarget("org", "repo", bucket, prefix, credentials_from_bucket(bucket)), objects)


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return local_store(tmp_path)
    seaweed: SeaweedFS = request.getfixturevalue("seaweed")
    return s3_store(seaweed, request.getfixturevalue("s3_bucket"))


def repository(target: RepoTarget, *, create: bool = False) -> icechunk.Repository:
    storage = icechunk_storage(target.bucket, target.prefix, target.credentials)
    if create:
        config = icechunk.RepositoryConfig(inline_chunk_threshold_bytes=0)
        return icechunk.Repository.create(storage, config=config)
    return icechunk.Repository.open(storage)


def commit(repo: icechunk.Repository, branch: str, value: int) -> str:
    session = repo.writable_session(branch)
    root = zarr.open_group(session.store)
    if "x" not in root:
        root.create_array("x", shape=SHAPE, chunks=CHUNKS, dtype="i4")
    zarr.open_array(session.store, path="x")[:] = value
    return session.commit(f"x = {value}")


def value_at(repo: icechunk.Repository, snapshot_id: str) -> int:
    data = zarr.open_array(repo.readonly_session(snapshot_id=snapshot_id).store, path="x", mode="r")[:]
    assert (data == data[0]).all()
    return int(data[0])


@dataclass
class Built:
    """A repo with history: ``old`` snapshots written before ``cutoff``, ``new`` ones after."""

    cutoff: datetime
    values: dict[str, int] = field(default_factory=dict)
    main: list[str] = field(default_factory=list)
    dev: list[str] = field(default_factory=list)


def build(target: RepoTarget) -> Built:
    """main: m1 m2 m3 | m4 m5; dev from m2: d1 | d2; tag v1 at m1 (``|`` is the cutoff)."""
    repo = repository(target, create=True)
    built = Built(cutoff=datetime.now(UTC))

    def on(branch: str, value: int) -> str:
        snapshot = commit(repo, branch, value)
        built.values[snapshot] = value
        (built.main if branch == "main" else built.dev).append(snapshot)
        return snapshot

    on("main", 1)
    m2 = on("main", 2)
    on("main", 3)
    repo.create_branch("dev", m2)
    on("dev", 11)
    repo.create_tag("v1", built.main[0])
    time.sleep(0.05)
    built.cutoff = datetime.now(UTC)
    time.sleep(0.05)
    on("main", 4)
    on("main", 5)
    on("dev", 12)
    return built


def expire_after(built: Built, now: datetime) -> timedelta:
    return now - built.cutoff


def test_expire_removes_what_preview_predicted(store: Store) -> None:
    built = build(store.target)
    now = datetime.now(UTC)
    m2, m3 = built.main[1:3]
    d1 = built.dev[0]
    rule = policy(expire_older_than=expire_after(built, now), roots={m3})

    report = asyncio.run(preview(store.target, rule, now))
    predicted = {ref.ref: {s.id for s in ref.expired} for ref in report.refs}
    assert report.expired_snapshots == 2
    assert predicted["main"] == {m2}  # m1 is the tag's tip, m3 an extra root
    assert predicted["dev"] == {m2, d1}
    assert predicted["v1"] == set()

    refs, count = asyncio.run(expire(store.target, rule, now))
    assert count == report.expired_snapshots
    assert {ref.ref: {s.id for s in ref.expired} for ref in refs} == predicted
    by_ref = {ref.ref: ref for ref in refs}
    assert by_ref["main"].kept == 5  # m5 m4 m3 m1 and the root
    assert by_ref["main"].expired[0].message == "x = 2"

    repo = repository(store.target)
    assert repo.list_branches() == {"main", "dev", KEEP_PREFIX + m3}
    assert repo.list_tags() == {"v1"}
    ancestry = [info.id for info in repo.ancestry(branch="main")]
    assert m2 not in ancestry and m3 in ancestry
    assert value_at(repo, repo.lookup_branch("main")) == 5
    assert value_at(repo, repo.lookup_branch("dev")) == 12
    assert value_at(repo, repo.lookup_tag("v1")) == 1


def test_preview_changes_nothing(store: Store) -> None:
    built = build(store.target)
    now = datetime.now(UTC)
    rule = policy(expire_older_than=expire_after(built, now), roots={built.main[2]})
    before = store.objects()

    report = asyncio.run(preview(store.target, rule, now))

    assert report.dry_run
    assert report.expired_snapshots == 2
    assert report.reclaimable_after_expiration is not None
    assert report.reclaimable_after_expiration.snapshots == 2
    assert report.reclaimable_after_expiration.manifests > 0
    assert report.size_bytes and report.size_bytes > 0
    assert store.objects() == before
    assert KEEP_PREFIX + built.main[2] not in repository(store.target).list_branches()


def test_collect_reclaims_what_the_dry_run_counted(store: Store) -> None:
    built = build(store.target)
    now = datetime.now(UTC)
    m3 = built.main[2]
    rule = policy(expire_older_than=expire_after(built, now), roots={m3})
    size_before = asyncio.run(measure(store.target))
    predicted = asyncio.run(preview(store.target, rule, now)).reclaimable_after_expiration
    asyncio.run(expire(store.target, rule, now))
    after_expire = datetime.now(UTC) + timedelta(seconds=1)
    objects_before = store.objects()

    dry = asyncio.run(preview(store.target, rule, after_expire))
    assert dry.reclaimed is not None
    assert store.objects() == objects_before
    done = asyncio.run(collect(store.target, rule, after_expire))

    assert done == dry.reclaimed
    assert done.chunks > 0 and done.snapshots == 2 and done.bytes > 0
    left = store.objects()
    deleted = set(objects_before) - set(left)
    assert len(deleted) == done.objects
    assert sum(objects_before[key] for key in deleted) == done.bytes
    assert {key.split("/")[1] for key in deleted} == {"chunks", "manifests", "snapshots"}
    manifests = [key for key in deleted if key.split("/")[1] == "manifests"]
    assert predicted is not None
    assert (predicted.manifests, predicted.snapshots) == (done.manifests, done.snapshots)
    assert predicted.bytes == sum(objects_before[key] for key in manifests)
    assert asyncio.run(measure(store.target)) < size_before

    repo = repository(store.target)
    assert value_at(repo, repo.lookup_branch("main")) == 5
    assert value_at(repo, repo.lookup_branch("dev")) == 12
    assert value_at(repo, repo.lookup_tag("v1")) == 1
    assert value_at(repo, m3) == 3  # the extra root, with its chunks
    with pytest.raises(icechunk.IcechunkError):
        repo.readonly_session(snapshot_id=built.main[1])


def test_extra_root_branch_leaves_with_the_root(store: Store) -> None:
    built = build(store.target)
    now = datetime.now(UTC)
    m3 = built.main[2]
    asyncio.run(expire(store.target, policy(expire_older_than=timedelta(days=1), roots={m3}), now))
    assert KEEP_PREFIX + m3 in repository(store.target).list_branches()

    asyncio.run(collect(store.target, policy(expire_older_than=timedelta(days=1)), now))

    assert repository(store.target).list_branches() == {"main", "dev"}


@pytest.mark.s3
def test_writer_keeps_its_chunks_through_collect(seaweed: SeaweedFS, s3_bucket: str) -> None:
    store = s3_store(seaweed, s3_bucket)
    built = build(store.target)
    repo = repository(store.target)
    session = repo.writable_session("main")
    zarr.open_array(session.store, path="x")[:] = np.arange(SHAPE[0], dtype="i4")

    now = datetime.now(UTC) + timedelta(seconds=1)
    rule = policy(expire_older_than=expire_after(built, now), gc_margin=timedelta(seconds=60))
    asyncio.run(expire(store.target, rule, now))
    asyncio.run(collect(store.target, rule, now))

    snapshot = session.commit("written during maintenance")
    again = repository(store.target)
    data = zarr.open_array(again.readonly_session(snapshot_id=snapshot).store, path="x", mode="r")[:]
    assert (data == np.arange(SHAPE[0])).all()


def test_open_fails_clearly_without_a_repository(tmp_path: Path) -> None:
    store = local_store(tmp_path)
    with pytest.raises(Exception, match="could not open repo org/repo"):
        asyncio.run(open_repository(store.target))
