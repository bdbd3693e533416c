"""The web app's pages: server time of each page for an org of 10,000 repos (SQLite and PostgreSQL), and of
the catalog's pages for an org of 100,000.

Aim (issue 16): <= 300 ms per page. The repos are written straight into the catalog (as in the scale
benchmark); one more repo holds real Icechunk data (three commits, a branch, a tag) for the repo pages. Times
are measured by a signed-in HTTP client on the same machine (loopback), one request at a time, after a
warm-up; medians and p95 are reported.
"""

from __future__ import annotations

import asyncio
import html
import re
import time

import httpx

from benchmarks.infra import postgres, service
from benchmarks.scale import fill
from benchmarks.stats import Result, median, percentile
from tests.support.service import ArraylakeService
from tests.support.users import PASSWORD, create_user, post_login
from tests.support.web import write_sample_repo

TARGET_MS = 300.0
REPOS = 10_000
LARGE = 100_000
_NEXT = re.compile(r'<a[^>]*href="([^"]*after=[^"]*)"[^>]*>\s*Next')


def _timings(http: httpx.Client, path: str, samples: int) -> list[float]:
    http.get(path).raise_for_status()  # warm-up (and a failing page fails the benchmark)
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = http.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return timings


def _deep_page(http: httpx.Client, first: str, hops: int) -> str:
    """The address of the page ``hops`` 'Next' links after ``first`` (cursor pages)."""
    path = first
    for _ in range(hops):
        found = _NEXT.search(http.get(path).text)
        if found is None:
            raise RuntimeError(f"no 'Next' link on {path}")
        path = html.unescape(found.group(1))
    return path


def _pages(svc: ArraylakeService, samples: int) -> dict[str, list[float]]:
    org = svc.new_org("web")
    asyncio.run(fill(svc.settings.resolved_database_url, org.name, REPOS))
    sample = write_sample_repo(org, "weather")
    email = f"bench-{org.name}@example.com"
    create_user(svc, email, org=org.name, role="admin")
    with httpx.Client(base_url=svc.url, timeout=60, follow_redirects=False) as http:
        assert post_login(http, email, PASSWORD, next="/app").status_code == 303
        catalog = f"/app/{org.name}"
        repo = sample.path
        pages = {
            "catalog, first page": catalog,
            "catalog, page 40 (cursor)": _deep_page(http, catalog, 39),
            "catalog, search": f"{catalog}?q=repo-00000999",
            "catalog, recently updated": f"{catalog}?sort=-updated",
            "catalog, filtered by status": f"{catalog}?status=online",
            "repo overview": repo,
            "repo tree": f"{repo}/tree?ref=main",
            "repo history": f"{repo}/history?ref=main",
            "branches and tags": f"{repo}/refs",
            "diff of two snapshots": f"{repo}/diff?from={sample.snapshots[0]}&to={sample.snapshots[2]}",
            "data page": f"{repo}/data?ref=main&path=weather/temperature",
            "data image (PNG)": f"{repo}/data/image.png?ref=main&path=weather/temperature",
            "members": f"/app/{org.name}/-/members",
            "API clients": f"/app/{org.name}/-/api-clients",
            "buckets": f"/app/{org.name}/-/buckets",
            "deleted repos": f"/app/{org.name}/-/deleted",
            "compute services": f"/app/{org.name}/-/compute",
            "account": "/app/-/account",
        }
        return {name: _timings(http, path, samples) for name, path in pages.items()}


def _large_catalog(svc: ArraylakeService, samples: int) -> dict[str, list[float]]:
    """The catalog's pages of an org of 100,000 repos (cursor pages stay flat; a search scans)."""
    org = svc.new_org("large")
    asyncio.run(fill(svc.settings.resolved_database_url, org.name, LARGE))
    email = f"bench-{org.name}@example.com"
    create_user(svc, email, org=org.name, role="admin")
    with httpx.Client(base_url=svc.url, timeout=60, follow_redirects=False) as http:
        assert post_login(http, email, PASSWORD, next="/app").status_code == 303
        catalog = f"/app/{org.name}"
        pages = {
            "catalog, first page": catalog,
            "catalog, page 40 (cursor)": _deep_page(http, catalog, 39),
            "catalog, search": f"{catalog}?q=repo-00099999",
            "catalog, recently updated": f"{catalog}?sort=-updated",
        }
        return {name: _timings(http, path, samples) for name, path in pages.items()}


def _results(backend: str, timings: dict[str, list[float]], repos: int = REPOS) -> list[Result]:
    results = []
    for page, values in timings.items():
        value = median(values)
        results.append(
            Result(
                "web pages",
                f"{page}, {backend}, {repos:,} repos",
                value,
                "ms",
                f"<= {TARGET_MS:g} ms",
                value <= TARGET_MS,
                {"p95_ms": percentile(values, 95), "samples": len(values)},
            )
        )
    return results


def run(quick: bool) -> list[Result]:
    samples = 5 if quick else 20
    results: list[Result] = []
    with service() as svc:
        results += _results("SQLite", _pages(svc, samples))
        results += _results("SQLite", _large_catalog(svc, samples), LARGE)
    with postgres() as cluster, service(cluster.create_database("arraylake_web")) as svc:
        results += _results("PostgreSQL", _pages(svc, samples))
        results += _results("PostgreSQL", _large_catalog(svc, samples), LARGE)
    return results
