"""Repo maintenance: run time of the dry run, expiration and garbage collection against the size of a repo.

Each case is a repo with a history of N commits on ``main`` (each rewrites four chunks, so a commit adds
about seven objects: chunks, a manifest, a snapshot, a transaction log), on a local directory and on
SeaweedFS. The first half of the history is older than the expiration cutoff. The engine is timed once per
case, in order, as a run does it: the dry run (``preview``), ``expire``, then ``collect`` with a margin of 0.
Each step is irreversible, so there is one sample per case; no target, the figures show how time grows.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import icechunk
import numpy as np
import zarr

from arraylake.server.maintenance.engine import RepoTarget, collect, expire
from arraylake.server.maintenance.preview import preview
from arraylake.storage import credentials_from_bucket, icechunk_storage
from arraylake.types import BucketResponse
from arraylake.types.maintenance import (
    EffectiveMaintenance,
    ExpirationConfig,
    GCConfig,
    OptimizationWindow,
)
from benchmarks.infra import seaweed
from benchmarks.stats import Result, console

CHUNKS_PER_COMMIT = 4


def _policy(expire_older_than: timedelta) -> EffectiveMaintenance:
    return EffectiveMaintenance(
        window=OptimizationWindow(duration=timedelta(hours=6), start_time=clock(2), day_of_week=6),
        window_source="service",
        expiration=ExpirationConfig(expire_versions_older_than=expire_older_than, enabled=True),
        expiration_source="repo",
        gc=GCConfig(enabled=True),
        gc_source="repo",
        gc_margin=timedelta(0),
        next_window_start=None,
    )


def _bucket(platform: str, name: str, **fields: Any) -> BucketResponse:
    return BucketResponse.model_validate(
        {"id": str(uuid.uuid4()), "nickname": name, "platform": platform, "name": name, "is_default": True}
        | fields
    )


def _fill(target: RepoTarget, commits: int) -> datetime:
    """Write ``commits`` commits; returns a time between the first and the second half."""
    storage = icechunk_storage(target.bucket, target.prefix, target.credentials)
    config = icechunk.RepositoryConfig(inline_chunk_threshold_bytes=0)
    repo = icechunk.Repository.create(storage, config=config)
    cutoff = datetime.now(UTC)
    for number in range(commits):
        if number == commits // 2:
            time.sleep(0.01)
            cutoff = datetime.now(UTC)
        session = repo.writable_session("main")
        if number == 0:
            zarr.open_group(session.store).create_array(
                "x", shape=(CHUNKS_PER_COMMIT * 256,), chunks=(256,), dtype="f8"
            )
        zarr.open_array(session.store, path="x")[:] = np.full(CHUNKS_PER_COMMIT * 256, number, dtype="f8")
        session.commit(f"commit {number}")
    return cutoff


def _timed(step: Coroutine[Any, Any, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    outcome = asyncio.run(step)
    return time.perf_counter() - started, outcome


def _case(label: str, target: RepoTarget, commits: int, count: Callable[[], int]) -> list[Result]:
    cutoff = _fill(target, commits)
    objects = count()
    now = datetime.now(UTC) + timedelta(seconds=1)
    policy = _policy(now - cutoff)
    preview_s, report = _timed(preview(target, policy, now))
    expire_s, (_, expired) = _timed(expire(target, policy, now))
    collect_s, reclaimed = _timed(collect(target, policy, now))
    case = f"{label}, {commits:,} commits ({objects:,} objects)"
    details = {
        "commits": commits,
        "objects": objects,
        "expired_snapshots": expired,
        "predicted_expired": report.expired_snapshots,
        "objects_reclaimed": reclaimed.objects,
        "bytes_reclaimed": reclaimed.bytes,
    }
    return [
        Result("maintenance", f"dry run, {case}", preview_s, "s", details=details),
        Result("maintenance", f"expire, {case}", expire_s, "s", details=details),
        Result("maintenance", f"collect, {case}", collect_s, "s", details=details),
    ]


def _local_count(root: Path) -> Callable[[], int]:
    return lambda: sum(len(files) for _, _, files in os.walk(root))


def run(quick: bool) -> list[Result]:
    sizes = (10, 100) if quick else (10, 100, 1000)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="arraylake-bench-maintenance-") as directory:
        bucket = _bucket("local", "local", extra_config={"local_path": directory})
        for commits in sizes:
            console.print(f"maintenance on a local directory, {commits} commits...")
            prefix = f"repo-{commits}"
            target = RepoTarget("bench", prefix, bucket, prefix, None)
            results += _case("local directory", target, commits, _local_count(Path(directory) / prefix))
    with seaweed() as store:
        name = store.create_bucket("bench-maintenance")
        config = store.bucket_config(name)
        bucket = _bucket(
            "s3-compatible", name, extra_config=config["extra_config"], auth_config=config["auth_config"]
        )
        for commits in sizes:
            console.print(f"maintenance on SeaweedFS, {commits} commits...")
            prefix = f"repo-{commits}"
            target = RepoTarget("bench", prefix, bucket, prefix, credentials_from_bucket(bucket))
            results += _case("SeaweedFS", target, commits, lambda p=prefix: len(store.keys(name, p + "/")))
    return results
