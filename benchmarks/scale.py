"""Catalog scale: list and get latency with 1,000 vs 100,000 repos in an org (SQLite and PostgreSQL), and
1,000,000 in PostgreSQL. Target (DESIGN.md): a page in <= 20 ms, flat as the catalog grows.

The repos are written straight into the catalog (as ``create_repo`` leaves them, without Icechunk data,
which neither listing nor lookup reads), so that a million of them take seconds, not days.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
from sqlalchemy import bindparam, select, text

from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import UtcDateTime, buckets, orgs
from arraylake.types import utcnow
from benchmarks.infra import postgres, service
from benchmarks.stats import Result, median, percentile

TARGET_PAGE_MS = 20.0
FLAT_RATIO = 1.5
PAGE_SIZE = 50
SAMPLES = 200

_COLUMNS = (
    "id, org_id, name, live_name, lifecycle, kind, prefix, visibility, status_mode, status_initiated_by,"
    " metadata, created, updated, retain_data, bucket_id"
)
_SQLITE_FILL = f"""INSERT INTO repos ({_COLUMNS})
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
SELECT :tag || printf('%016x', i), :org, printf('repo-%09d', i), printf('repo-%09d', i), 'active', 'icechunk',
       :tag || '/' || i, 'PRIVATE', 'online', '{{}}', '{{}}', :now, :now, 0, :bucket FROM n"""
_POSTGRES_FILL = f"""INSERT INTO repos ({_COLUMNS})
SELECT :tag || lpad(to_hex(i), 16, '0'), :org,
       'repo-' || lpad(i::text, 9, '0'), 'repo-' || lpad(i::text, 9, '0'), 'active', 'icechunk',
       :tag || '/' || i, 'PRIVATE', 'online', '{{}}', '{{}}', :now, :now, false, :bucket
FROM generate_series(1, :count) AS i"""


async def fill(database_url: str, org_name: str, count: int) -> None:
    """Add ``count`` active repos to ``org_name``, in its default bucket."""
    engine = make_engine(database_url)
    postgres = engine.dialect.name == "postgresql"
    try:
        async with engine.begin() as conn:
            org = (await conn.execute(select(orgs).where(orgs.c.name == org_name))).one()
            bucket = (await conn.execute(select(buckets.c.id).where(buckets.c.org_id == org.id))).scalar_one()
            if postgres:  # a million updates of one counter row would dominate; count once instead
                await conn.execute(text("ALTER TABLE repos DISABLE TRIGGER repos_track_active"))
            statement = text(_POSTGRES_FILL if postgres else _SQLITE_FILL).bindparams(
                bindparam("now", type_=UtcDateTime)
            )
            params = {"count": count, "org": org.id, "bucket": bucket, "tag": uuid.uuid4().hex[:8]}
            await conn.execute(statement, {**params, "now": utcnow()})
            if postgres:
                await conn.execute(text("ALTER TABLE repos ENABLE TRIGGER repos_track_active"))
                # what the trigger would have done: count the repos, and bump the list's version
                await conn.execute(
                    text(
                        "UPDATE orgs SET active_repos = (SELECT count(*) FROM repos WHERE org_id = :org"
                        " AND lifecycle = 'active'), repo_list_version = repo_list_version + 1"
                        " WHERE id = :org"
                    ),
                    {"org": org.id},
                )
        if postgres:  # as autovacuum would soon: statistics, and the visibility map for index-only scans
            async with engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE repos"))
    finally:
        await engine.dispose()


def _latencies(http: httpx.Client, paths: list[str]) -> list[float]:
    timings = []
    for path in paths:
        started = time.perf_counter()
        response = http.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return timings


def _measure(url: str, token: str, org: str, count: int, samples: int) -> dict[str, list[float]]:
    pages = max(1, count // PAGE_SIZE)
    middle = f"repo-{(pages // 2 - 1) * PAGE_SIZE:09d}"
    # Lookups of distinct repos: each one misses the service's short-lived cache and reads the catalog.
    step = max(1, count // samples)
    names = [f"repo-{i:09d}" for i in range(1, count + 1, step)][:samples]
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {token}"}, timeout=60) as http:
        _latencies(http, [f"/orgs/{org}/repos/paginated?page=1&size={PAGE_SIZE}"] * 5)  # warm up
        return {
            "first page": _latencies(
                http, [f"/orgs/{org}/repos/paginated?page=1&size={PAGE_SIZE}"] * samples
            ),
            "middle page": _latencies(
                http, [f"/orgs/{org}/repos/paginated?page={pages // 2}&size={PAGE_SIZE}"] * samples
            ),
            # the same page, reached by cursor (the last name of the page before it)
            "middle page by cursor": _latencies(
                http,
                [f"/orgs/{org}/repos/paginated?after={middle}&size={PAGE_SIZE}"] * samples,
            ),
            "get repo": _latencies(http, [f"/repos/{org}/{name}" for name in names]),
        }


def _results(backend: str, sizes: dict[int, dict[str, list[float]]]) -> list[Result]:
    results = []
    smallest = min(sizes)
    for count, cases in sorted(sizes.items()):
        for case, timings in cases.items():
            value = median(timings)
            is_page = "page" in case
            results.append(
                Result(
                    "catalog scale",
                    f"{case}, {backend}, {count:,} repos",
                    value,
                    "ms",
                    f"<= {TARGET_PAGE_MS:g} ms" if is_page else "",
                    value <= TARGET_PAGE_MS if is_page else None,
                    {"p99_ms": percentile(timings, 99), "samples": len(timings), "repos": count},
                )
            )
            if count != smallest:
                ratio = value / median(sizes[smallest][case])
                results.append(
                    Result(
                        "catalog scale",
                        f"{case}, {backend}: {count:,} vs {smallest:,} repos",
                        ratio,
                        "x",
                        f"<= {FLAT_RATIO} (flat)",
                        ratio <= FLAT_RATIO,
                    )
                )
    return results


def _backend(database_url: str | None, backend: str, counts: tuple[int, ...], samples: int) -> list[Result]:
    with service(database_url) as svc:
        sizes = {}
        for count in counts:
            org = svc.new_org(f"scale{count}")
            asyncio.run(fill(svc.settings.resolved_database_url, org.name, count))
            sizes[count] = _measure(svc.url, org.token, org.name, count, samples)
        return _results(backend, sizes)


def run(quick: bool) -> list[Result]:
    samples = 50 if quick else SAMPLES
    results = _backend(None, "sqlite", (1_000, 100_000), samples)
    with postgres() as cluster:
        counts = (1_000, 100_000) if quick else (1_000, 100_000, 1_000_000)
        results += _backend(cluster.create_database("bench_scale"), "postgres", counts, samples)
    return results
