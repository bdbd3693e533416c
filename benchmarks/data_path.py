"""Data path: write then read an xarray dataset through ``Client.get_repo`` versus Icechunk opened directly on
the same storage. Target: the Client's throughput is at least 0.95 of Icechunk's own."""

from __future__ import annotations

import os
import time
import uuid

import icechunk
import numpy as np
import xarray as xr
from icechunk.xarray import to_icechunk

from arraylake import Client
from arraylake.storage import credentials_from_bucket, icechunk_storage
from benchmarks.stats import Result, interleaved, median, paired_ratio

TARGET_RATIO = 0.95
CHUNK_MIB = 8


def dataset(total_mib: int) -> xr.Dataset:
    """``total_mib`` of float64 in chunks of 8 MiB (1024 x 1024 values)."""
    count = total_mib // CHUNK_MIB
    values = np.random.default_rng(0).random((count, 1024, 1024))
    return xr.Dataset({"field": (("time", "y", "x"), values)}).chunk({"time": 1})


def _write_read(repo_factory, ds: xr.Dataset) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    os.sync()  # the previous arm's dirty pages go to disk now, not during this arm's timing
    started = time.perf_counter()
    session = repo_factory().writable_session("main")
    to_icechunk(ds, session, mode="w")
    session.commit("benchmark write")
    written = time.perf_counter() - started
    os.sync()
    started = time.perf_counter()
    back = xr.open_zarr(repo_factory().readonly_session("main").store, consolidated=False)
    back.field.values.sum()
    read = time.perf_counter() - started
    return written, read


def run(
    client: Client, org: str, bucket_nickname: str, label: str, total_mib: int, rounds: int
) -> list[Result]:
    ds = dataset(total_mib)
    ds.load()
    name = f"{org}/data-{uuid.uuid4().hex[:6]}"
    client.create_repo(name, bucket_config_nickname=bucket_nickname)
    bucket = client.get_bucket_config(org=org, nickname=bucket_nickname)
    direct_prefix = f"direct-{uuid.uuid4().hex[:8]}"
    direct_storage = icechunk_storage(bucket, direct_prefix, credentials_from_bucket(bucket))
    icechunk.Repository.create(direct_storage)

    writes: dict[str, list[float]] = {"client": [], "direct": []}
    reads: dict[str, list[float]] = {"client": [], "direct": []}

    def via_client() -> float:
        w, r = _write_read(lambda: client.get_repo(name), ds)
        writes["client"].append(w)
        reads["client"].append(r)
        return w + r

    def via_icechunk() -> float:
        w, r = _write_read(lambda: icechunk.Repository.open(direct_storage), ds)
        writes["direct"].append(w)
        reads["direct"].append(r)
        return w + r

    interleaved(via_client, via_icechunk, rounds=rounds)
    results = []
    for kind, times in (("write", writes), ("read", reads)):
        client_mibs = total_mib / median(times["client"])
        direct_mibs = total_mib / median(times["direct"])
        ratio = paired_ratio(times["direct"], times["client"])  # throughput ratio: time the other way
        results.append(
            Result(
                "data path",
                f"{kind} {total_mib} MiB, {label}",
                ratio,
                "x icechunk",
                f">= {TARGET_RATIO}",
                ratio >= TARGET_RATIO,
                {"client_mib_s": client_mibs, "icechunk_mib_s": direct_mibs, "rounds": rounds},
            )
        )
    client.delete_repo(name, imsure=True, imreallysure=True)
    return results
