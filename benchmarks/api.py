"""API throughput and latency: ``get_repo_object``, a page of ``list_repos`` and credential vending, at 1, 10
and 50 concurrent clients, on SQLite and PostgreSQL, with the service's worker count stated.

Target (DESIGN.md): >= 2,000 repo lookups/s on a 2-core machine, p99 <= 25 ms at 50 clients. The load
generator (wrk) runs on the same machine and takes its share of the two cores.
"""

from __future__ import annotations

from dataclasses import dataclass

from arraylake import Client
from benchmarks.infra import postgres, seaweed, service
from benchmarks.load import Load, wrk
from benchmarks.stats import Result

CONNECTIONS = (1, 10, 50)
LIST_REPOS = 100
TARGET_RPS = 2000
TARGET_P99_MS = 25.0


@dataclass(frozen=True)
class Setup:
    """One way of deploying the service for the run."""

    database: str
    workers: int
    cache_seconds: float | None = None  # None: the default

    @property
    def label(self) -> str:
        cache = "" if self.cache_seconds is None else ", repo cache off"
        return f"{self.database}, {self.workers} worker{'s' if self.workers > 1 else ''}{cache}"


SETUPS = (
    Setup("sqlite", 1),
    Setup("sqlite", 2),
    Setup("sqlite", 2, cache_seconds=0),
    Setup("postgres", 1),
    Setup("postgres", 2),
)


def _result(case: str, setup: Setup, load: Load) -> Result:
    lookup_at_50 = case == "get_repo_object" and load.connections == 50 and setup.cache_seconds is None
    ok = None
    target = ""
    if lookup_at_50:
        target = f">= {TARGET_RPS:,} req/s, p99 <= {TARGET_P99_MS:g} ms"
        ok = load.requests_per_s >= TARGET_RPS and load.p99_ms <= TARGET_P99_MS and load.failures == 0
    elif load.failures:
        ok = False
    return Result(
        "api",
        f"{case}, {setup.label}, {load.connections} clients",
        load.requests_per_s,
        "req/s",
        target,
        ok,
        {
            "p50_ms": load.p50_ms,
            "p99_ms": load.p99_ms,
            "requests": load.requests,
            "failures": load.failures,
            "workers": setup.workers,
            "database": setup.database,
        },
    )


def _measure(setup: Setup, database_url: str | None, vended_bucket: dict, seconds: float) -> list[Result]:
    env = {}
    if setup.cache_seconds is not None:
        env["ARRAYLAKE_SERVER_CATALOG_CACHE_SECONDS"] = str(setup.cache_seconds)
    with service(database_url, workers=setup.workers, env=env) as svc:
        org = svc.new_org("bench")
        client = Client(svc.url, token=org.token)
        client.create_repo(f"{org.name}/lookup")
        for i in range(LIST_REPOS):
            client.create_repo(f"{org.name}/listed-{i:04d}", bucket_config_nickname="local")
        client.create_bucket_config(org=org.name, nickname="vended", **vended_bucket)
        client.create_repo(f"{org.name}/vended", bucket_config_nickname="vended")
        cases = {
            "get_repo_object": f"/repos/{org.name}/lookup",
            "list_repos page of 50": f"/orgs/{org.name}/repos/paginated?page=1&size=50",
            "credential vending": f"/repos/{org.name}/vended/bucket-credentials?access=read",
        }
        if setup.cache_seconds is not None:
            cases = {"get_repo_object (no cache)": cases["get_repo_object"]}
        results = []
        for case, path in cases.items():
            wrk(svc.url + path, org.token, 10, 1)  # warm up: connections, caches, an STS session
            for connections in CONNECTIONS:
                load = wrk(svc.url + path, org.token, connections, seconds)
                results.append(_result(case.replace(" (no cache)", ""), setup, load))
        return results


def run(seconds: float) -> list[Result]:
    results: list[Result] = []
    with seaweed() as store, postgres() as cluster:
        bucket = store.create_bucket("bench-vended")
        vended = store.sts_bucket_config(bucket)
        for number, setup in enumerate(SETUPS):
            url = cluster.create_database(f"bench_api_{number}") if setup.database == "postgres" else None
            results.extend(_measure(setup, url, vended, seconds))
    return results
