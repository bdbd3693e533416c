"""Legacy V1 repos: the data path against Icechunk on the same storage, commit latency as the number of
changed chunk references grows, and document lookup and listing latency as a repo's documents and its
history grow.

Targets (the V1 issue): reads at least 0.5 of Icechunk's throughput; a commit of 100,000 changed chunk
references in at most 5 s; lookups and listings flat from 100,000 to 10,000,000 chunk references and from
10 to thousands of commits. A service process loads the chain of commits below a read's base once, on its
first read there; that one-off cost is held to at most 200 ms at thousands of commits (our bound, not the
issue's).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import icechunk
import numpy as np
import xarray as xr
from icechunk.xarray import to_icechunk
from sqlalchemy import select, text

from arraylake import Client
from arraylake.repos.v1 import Repo
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import repos
from arraylake.storage import credentials_from_bucket, icechunk_storage
from arraylake.types import RepoKind
from arraylake.types.v1 import ReferenceData
from benchmarks.infra import postgres, service
from benchmarks.stats import Result, console, interleaved, median, paired_ratio, percentile
from tests.support.service import ArraylakeService

READ_TARGET = 0.5
COMMIT_TARGET_S = 5.0
FLAT_RATIO = 1.5
LOOKUP_BATCH = 20
FIRST_READ_TARGET_MS = 200.0


# ------------------------------------------------------------------------------------------ data path


def dataset(total_mib: int, chunk_kib: int) -> xr.Dataset:
    """``total_mib`` of float64 in chunks of ``chunk_kib`` KiB (rows of 128 values)."""
    rows_per_chunk = chunk_kib * 1024 // (128 * 8)
    rows = total_mib * 1024 * 1024 // (128 * 8)
    values = np.random.default_rng(0).random((rows, 128))
    return xr.Dataset({"field": (("y", "x"), values)}).chunk({"y": rows_per_chunk})


def _timed_read(store: Any) -> float:
    os.sync()  # the write's dirty pages go to disk now, not during the read's timing
    started = time.perf_counter()
    back = xr.open_zarr(store, consolidated=False, zarr_format=3)
    back.field.values.sum()
    return time.perf_counter() - started


def _v1_write_read(client: Client, name: str, ds: xr.Dataset) -> tuple[float, float]:
    os.sync()
    started = time.perf_counter()
    repo = client.get_repo(name, read_only=False)
    assert isinstance(repo, Repo)
    ds.to_zarr(repo.store, mode="w", zarr_format=3, consolidated=False)  # type: ignore[call-overload]
    repo.commit("benchmark write")
    written = time.perf_counter() - started
    reader = client.get_repo(name)
    assert isinstance(reader, Repo)
    return written, _timed_read(reader.store)


def _icechunk_write_read(storage: icechunk.Storage, ds: xr.Dataset) -> tuple[float, float]:
    os.sync()
    started = time.perf_counter()
    session = icechunk.Repository.open(storage).writable_session("main")
    to_icechunk(ds, session, mode="w")
    session.commit("benchmark write")
    written = time.perf_counter() - started
    return written, _timed_read(icechunk.Repository.open(storage).readonly_session("main").store)


def data_path(
    client: Client, org: str, nickname: str, label: str, total_mib: int, chunk_kib: int, rounds: int
) -> list[Result]:
    """Write then read the same dataset through a V1 repo's store and an Icechunk session, interleaved."""
    ds = dataset(total_mib, chunk_kib)
    ds.load()
    name = f"{org}/v1-data-{uuid.uuid4().hex[:6]}"
    client.create_repo(name, kind=RepoKind.V1, bucket_config_nickname=nickname)
    bucket = client.get_bucket_config(org=org, nickname=nickname)
    storage = icechunk_storage(bucket, f"v1-direct-{uuid.uuid4().hex[:8]}", credentials_from_bucket(bucket))
    icechunk.Repository.create(storage)
    writes: dict[str, list[float]] = {"v1": [], "icechunk": []}
    reads: dict[str, list[float]] = {"v1": [], "icechunk": []}

    def arm(kind: str, fn: Callable[[], tuple[float, float]]) -> Callable[[], float]:
        def run() -> float:
            w, r = fn()
            writes[kind].append(w)
            reads[kind].append(r)
            return w + r

        return run

    interleaved(
        arm("v1", lambda: _v1_write_read(client, name, ds)),
        arm("icechunk", lambda: _icechunk_write_read(storage, ds)),
        rounds=rounds,
    )
    client.delete_repo(name, imsure=True, imreallysure=True)
    results = []
    chunks = total_mib * 1024 // chunk_kib
    for kind, times in (("write", writes), ("read", reads)):
        ratio = paired_ratio(times["icechunk"], times["v1"])  # a throughput ratio: times the other way
        target = READ_TARGET if kind == "read" else None
        results.append(
            Result(
                "v1 data path",
                f"{kind} {total_mib} MiB in {chunks} chunks of {chunk_kib} KiB, {label}",
                ratio,
                "x icechunk",
                f">= {target}" if target else "",
                ratio >= target if target else None,
                {
                    "v1_mib_s": total_mib / median(times["v1"]),
                    "icechunk_mib_s": total_mib / median(times["icechunk"]),
                    "rounds": rounds,
                },
            )
        )
    return results


# -------------------------------------------------------------------------------------- commit latency


def _reference(i: int) -> ReferenceData:
    return ReferenceData.model_validate(
        {
            "uri": None,
            "offset": 0,
            "length": 1024,
            "hash": {"method": "hashlib.sha256", "token": f"{i:x}"},
            "v": 1,
            "sid": "bench",
        }
    )


def commit_latency(client: Client, org: str, counts: tuple[int, ...], rounds: int) -> list[Result]:
    """Write ``count`` chunk references through the client's bulk routes, then commit them; each timed."""
    results = []
    for count in counts:
        commits, writes = [], []
        for _ in range(rounds if count < 100_000 else min(rounds, 2)):  # 100,000 writes take minutes
            name = f"{org}/v1-commit-{uuid.uuid4().hex[:6]}"
            repo = client.create_repo(name, kind=RepoKind.V1)
            assert isinstance(repo, Repo)
            refs = {f"data/root/a/c{i // 1000}/{i % 1000}": _reference(i) for i in range(count)}
            started = time.perf_counter()
            repo._set_chunk_refs(refs)
            writes.append(time.perf_counter() - started)
            started = time.perf_counter()
            repo.commit(f"{count} references")  # checks the tip, PUT /commits, PUT /branches, next session
            commits.append(time.perf_counter() - started)
            client.delete_repo(name, imsure=True, imreallysure=True)
        commit_s = median(commits)
        results += [
            Result(
                "v1 commit",
                f"commit of {count:,} changed chunk references, postgres",
                commit_s * 1000,
                "ms",
                f"<= {COMMIT_TARGET_S * 1000:g} ms" if count >= 100_000 else "",
                commit_s <= COMMIT_TARGET_S if count >= 100_000 else None,
                {"rounds": len(commits), "all_s": commits},
            ),
            Result(
                "v1 commit",
                f"writing those {count:,} first (bulk routes, batches of 20, concurrency 4), postgres",
                median(writes),
                "s",
                "",
                None,
                {"references": count, "refs_per_s": count / median(writes), "rounds": len(writes)},
            ),
        ]
    return results


# ----------------------------------------------------------------------------------- lookups at scale

_SEED = """INSERT INTO v1_documents (repo_id, collection, path, session_seq, deleted, content, chunk_bytes)
SELECT :repo, 2, 'data/root/big/c' || (i / 100) || '/' || (i % 100), :session, false,
       json_build_object('uri', NULL, 'offset', 0, 'length', 1024,
                         'hash', json_build_object('method', 'hashlib.sha256', 'token', to_hex(i)),
                         'v', 1, 'sid', 'bench'),
       1024
FROM generate_series(:start, :stop - 1) AS i"""
SEED_BATCH = 1_000_000


async def seed(database_url: str, repo_name: str, start: int, stop: int) -> None:
    """Add chunk references ``start`` to ``stop`` (``data/root/big/c{i // 100}/{i % 100}``) to the committed
    session of V1 repo ``repo_name``, straight into its table."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            repo_id = (await conn.execute(select(repos.c.id).where(repos.c.name == repo_name))).scalar_one()
            session = (
                await conn.execute(
                    text("SELECT session_seq FROM v1_commits WHERE repo_id = :repo"), {"repo": repo_id}
                )
            ).scalar_one()
        for low in range(start, stop, SEED_BATCH):
            async with engine.begin() as conn:  # a transaction per million keeps each one short
                params = {
                    "repo": repo_id,
                    "session": session,
                    "start": low,
                    "stop": min(low + SEED_BATCH, stop),
                }
                await conn.execute(text(_SEED), params)
        async with engine.connect() as conn:  # as autovacuum would soon: statistics and the visibility map
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE v1_documents"))
    finally:
        await engine.dispose()


def _lookups(
    url: str, token: str, repo: str, commit: str, count: int, samples: int
) -> dict[str, list[float]]:
    base = f"/repos/{repo}/contents/chunks"
    params = {"session_id": f"read-{commit}"}
    rng = np.random.default_rng(1)
    timings: dict[str, list[float]] = {
        f"_bulk_get of {LOOKUP_BATCH} paths": [],
        "listing a directory of 100": [],
    }
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=60) as http:
        for sample in range(samples + 5):  # the first few warm up
            picks = rng.integers(0, count, LOOKUP_BATCH)
            paths = [f"data/root/big/c{i // 100}/{i % 100}" for i in picks]
            started = time.perf_counter()
            answer = http.post(f"{base}/_bulk_get", params=params, json=paths)
            got = (time.perf_counter() - started) * 1000
            answer.raise_for_status()
            assert len(answer.json()) == len(set(paths))
            directory = f"data/root/big/c{int(rng.integers(0, count // 100))}"
            started = time.perf_counter()
            listed = http.get(f"{base}/", params={**params, "prefix": directory})
            ls = (time.perf_counter() - started) * 1000
            listed.raise_for_status()
            assert len(listed.json()) == 100
            if sample >= 5:
                timings[f"_bulk_get of {LOOKUP_BATCH} paths"].append(got)
                timings["listing a directory of 100"].append(ls)
    return timings


def lookup_scale(
    client: Client, org: str, token: str, url: str, database_url: str, counts: tuple[int, ...], samples: int
) -> list[Result]:
    """Lookup and listing latency in one V1 repo as its chunk references grow to each of ``counts``."""
    name = f"v1-scale-{uuid.uuid4().hex[:6]}"
    repo = client.create_repo(f"{org}/{name}", kind=RepoKind.V1)
    assert isinstance(repo, Repo)
    repo._set_chunk_refs({"data/root/seed/c0": _reference(0)})
    commit = repo.commit("the session the seeded references belong to")
    assert commit is not None
    sizes: dict[int, dict[str, list[float]]] = {}
    seeded = 0
    for count in sorted(counts):
        started = time.perf_counter()
        asyncio.run(seed(database_url, name, seeded, count))
        console.print(
            f"  seeded {count - seeded:,} chunk references in {time.perf_counter() - started:.0f} s"
        )
        seeded = count
        sizes[count] = _lookups(url, token, f"{org}/{name}", commit, count, samples)
    results = []
    smallest = min(sizes)
    for count, cases in sorted(sizes.items()):
        for case, timings in cases.items():
            results.append(
                Result(
                    "v1 lookups",
                    f"{case}, postgres, {count:,} chunk references",
                    median(timings),
                    "ms",
                    "",
                    None,
                    {"p99_ms": percentile(timings, 99), "samples": len(timings)},
                )
            )
            if count != smallest:
                ratio = median(timings) / median(sizes[smallest][case])
                results.append(
                    Result(
                        "v1 lookups",
                        f"{case}, postgres: {count:,} vs {smallest:,} references",
                        ratio,
                        "x",
                        f"<= {FLAT_RATIO} (flat)",
                        ratio <= FLAT_RATIO,
                    )
                )
    return results


# ------------------------------------------------------------------------------------ lookups and history

# Commits ``start`` to ``stop`` on top of the chain, each by its own landed session (ids from ``tag``),
# each session writing ``PER_COMMIT`` new versions of existing chunk references.
_SEED_HISTORY = """WITH made AS (
    INSERT INTO v1_sessions (id, repo_id, branch, base_commit, author_email, session_type, start_time,
                             expiration, landed_commit)
    SELECT CAST(:tag AS text) || 'session' || k, :repo, 'main',
           CASE WHEN k = 0 THEN CAST(:base AS text) ELSE :tag || lpad(to_hex(k - 1), 16, '0') END,
           'bench@example.com', 'write', now(), now(), :tag || lpad(to_hex(k), 16, '0')
    FROM generate_series(:start, :stop - 1) AS k
    ORDER BY k
    RETURNING seq, base_commit, landed_commit, start_time
), committed AS (
    INSERT INTO v1_commits (id, repo_id, session_seq, parent_commit, session_start_time, commit_time,
                            author_email, message)
    SELECT landed_commit, :repo, seq, base_commit, start_time, start_time, 'bench@example.com', 'history'
    FROM made
    ORDER BY seq
)
INSERT INTO v1_documents (repo_id, collection, path, session_seq, deleted, content, chunk_bytes)
SELECT :repo, 2, 'data/root/big/c' || (i / 100) || '/' || (i % 100), seq, false,
       json_build_object('uri', NULL, 'offset', 0, 'length', 1024,
                         'hash', json_build_object('method', 'hashlib.sha256', 'token', to_hex(seq)),
                         'v', 1, 'sid', 'bench'),
       1024
FROM (SELECT seq, ((CAST(seq AS bigint) * :per + j) * 7919) % :references AS i
      FROM made, generate_series(0, :per - 1) AS j) AS picked"""
PER_COMMIT = 4


def _history_id(tag: str, k: int) -> str:
    return f"{tag}{k:016x}"


async def seed_history(
    database_url: str, repo_name: str, base: str, tag: str, start: int, stop: int, references: int
) -> str:
    """Commits ``start`` to ``stop`` of a chain over commit ``base``, straight into the tables, as clients'
    commits would have left them (a landed session each, the branch moved to the tip); the new tip."""
    engine = make_engine(database_url)
    tip = _history_id(tag, stop - 1)
    try:
        async with engine.begin() as conn:
            repo_id = (await conn.execute(select(repos.c.id).where(repos.c.name == repo_name))).scalar_one()
            params = {
                "repo": repo_id,
                "base": base,
                "tag": tag,
                "start": start,
                "stop": stop,
                "per": PER_COMMIT,
                "references": references,
            }
            await conn.execute(text(_SEED_HISTORY), params)
            await conn.execute(
                text("UPDATE v1_branches SET commit_id = :tip WHERE repo_id = :repo AND name = 'main'"),
                {"tip": tip, "repo": repo_id},
            )
        async with engine.connect() as conn:  # as autovacuum would soon
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE v1_sessions, v1_commits, v1_documents"))
    finally:
        await engine.dispose()
    return tip


def _first_reads(svc: ArraylakeService, token: str, repo: str, commit: str, rounds: int) -> list[float]:
    """The first read at ``commit`` of each of ``rounds`` fresh service processes, in ms: it loads the
    chain. Each process first serves reads of the empty view, which need no chain, so that the figure is
    the chain's and not a cold process's (connections, tokens, imports)."""
    base = f"/repos/{repo}/contents/chunks"
    paths = [f"data/root/big/c{i}/{i}" for i in range(LOOKUP_BATCH)]
    firsts = []
    for _ in range(rounds):
        svc.restart()
        with httpx.Client(base_url=svc.url, headers={"authorization": f"Bearer {token}"}, timeout=60) as http:
            for _ in range(10):
                http.post(
                    f"{base}/_bulk_get", params={"session_id": "read-None"}, json=paths
                ).raise_for_status()
            started = time.perf_counter()
            answer = http.post(f"{base}/_bulk_get", params={"session_id": f"read-{commit}"}, json=paths)
            firsts.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
            assert len(answer.json()) == LOOKUP_BATCH
    return firsts


def history_scale(
    svc: ArraylakeService,
    client: Client,
    org: str,
    token: str,
    references: int,
    counts: tuple[int, ...],
    samples: int,
    rounds: int,
) -> list[Result]:
    """Lookup and listing latency at the tip of one V1 repo's history as it grows to each of ``counts``
    commits (over ``references`` chunk references), on fresh service processes."""
    name = f"v1-history-{uuid.uuid4().hex[:6]}"
    repo = client.create_repo(f"{org}/{name}", kind=RepoKind.V1)
    assert isinstance(repo, Repo)
    repo._set_chunk_refs({"data/root/seed/c0": _reference(0)})
    root = repo.commit("the session the seeded references belong to")
    assert root is not None
    database_url = svc.settings.resolved_database_url
    asyncio.run(seed(database_url, name, 0, references))
    tag = uuid.uuid4().hex[:8]
    first: dict[int, list[float]] = {}
    warm: dict[int, dict[str, list[float]]] = {}
    made = 1  # the chain so far: the root commit
    for count in sorted(counts):
        started = time.perf_counter()
        tip = asyncio.run(seed_history(database_url, name, root, tag, made - 1, count - 1, references))
        console.print(f"  seeded {count - made:,} commits in {time.perf_counter() - started:.1f} s")
        made = count
        first[count] = _first_reads(svc, token, f"{org}/{name}", tip, rounds)
        warm[count] = _lookups(svc.url, token, f"{org}/{name}", tip, references, samples)
    results = []
    smallest = min(counts)
    for count in sorted(counts):
        results.append(
            Result(
                "v1 history",
                f"first read of a fresh process at a chain of {count:,} commits (loads it), postgres",
                median(first[count]),
                "ms",
                f"<= {FIRST_READ_TARGET_MS:g} ms",
                median(first[count]) <= FIRST_READ_TARGET_MS,
                {"all_ms": first[count], "processes": len(first[count])},
            )
        )
        for case, timings in warm[count].items():
            results.append(
                Result(
                    "v1 history",
                    f"{case}, postgres, {count:,} commits over {references:,} references",
                    median(timings),
                    "ms",
                    "",
                    None,
                    {"p99_ms": percentile(timings, 99), "samples": len(timings)},
                )
            )
            if count != smallest:
                ratio = median(timings) / median(warm[smallest][case])
                results.append(
                    Result(
                        "v1 history",
                        f"{case}, postgres: {count:,} vs {smallest:,} commits",
                        ratio,
                        "x",
                        f"<= {FLAT_RATIO} (flat)",
                        ratio <= FLAT_RATIO,
                    )
                )
    return results


def run_postgres(quick: bool, largest: int | None = None, commits: int | None = None) -> list[Result]:
    """Commit latency, and lookups as references and history grow, on a service over PostgreSQL."""
    commit_counts = (10, 1_000) if quick else (10, 1_000, 100_000)
    scale_counts = (10_000, largest or 100_000) if quick else (100_000, largest or 10_000_000)
    history_counts = (10, commits or 500) if quick else (10, commits or 5_000)
    with postgres() as cluster:
        database_url = cluster.create_database("bench_v1")
        with service(database_url) as svc:
            org = svc.new_org("v1bench")
            client = Client(svc.url, token=org.token)
            results = commit_latency(client, org.name, commit_counts, rounds=3 if quick else 5)
            results += history_scale(
                svc,
                client,
                org.name,
                org.token,
                references=10_000 if quick else 100_000,
                counts=history_counts,
                samples=30 if quick else 200,
                rounds=3 if quick else 5,
            )
            results += lookup_scale(
                client,
                org.name,
                org.token,
                svc.url,
                svc.settings.resolved_database_url,
                scale_counts,
                samples=30 if quick else 200,
            )
    return results
