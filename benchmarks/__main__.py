"""``python -m benchmarks``: run the benchmarks, print a table and write the results as JSON.

Each comparison is interleaved (A B, B A, ...) in one run and reported as medians and ratios; see
``--help`` for a quicker pass or a single benchmark.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

# Before icechunk is imported (it reads this then): it warns each time it opens local storage, and the
# benchmarks open thousands (their services inherit the setting).
os.environ.setdefault("ICECHUNK_LOG", "error")

from arraylake import Client
from benchmarks import api, compute, data_path, maintenance, open_latency, scale, v1, web
from benchmarks.infra import seaweed, service
from benchmarks.stats import Result, console, report

BENCHMARKS = ("data", "open", "api", "scale", "v1", "compute", "web", "maintenance")


def _data_and_open(only: set[str], quick: bool) -> list[Result]:
    total_mib, rounds = (64, 3) if quick else (256, 9)
    open_rounds = 20 if quick else 100
    v1_mib, v1_chunk_kib, v1_rounds = (32, 64, 3) if quick else (128, 64, 5)
    results: list[Result] = []
    with seaweed() as store, service() as svc:
        org = svc.new_org("bench")
        client = Client(svc.url, token=org.token)
        client.create_bucket_config(
            org=org.name, nickname="seaweedfs", **store.bucket_config(store.create_bucket("bench"))
        )
        for nickname, label in (("local", "local directory"), ("seaweedfs", "SeaweedFS")):
            if "data" in only:
                console.print(f"data path on {label}...")
                results += data_path.run(client, org.name, nickname, label, total_mib, rounds)
            if "open" in only:
                console.print(f"open latency on {label}...")
                name = f"{org.name}/open-{nickname}"
                client.create_repo(name, bucket_config_nickname=nickname)
                results += open_latency.run(client, name, label, open_rounds)
            if "v1" in only:
                console.print(f"V1 data path on {label}...")
                results += v1.data_path(client, org.name, nickname, label, v1_mib, v1_chunk_kib, v1_rounds)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, shorter runs (a smoke test)")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these (repeatable)")
    parser.add_argument(
        "--out", type=Path, default=Path(".bench/results.json"), help="where to write the JSON results"
    )
    parser.add_argument(
        "--v1-references",
        type=int,
        help="chunk references in the largest V1 lookup case (default 10,000,000; 100,000 with --quick)",
    )
    parser.add_argument(
        "--v1-commits",
        type=int,
        help="commits in the longest V1 history case (default 5,000; 500 with --quick)",
    )
    args = parser.parse_args()
    only = set(args.only or BENCHMARKS)
    console.print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    results: list[Result] = []
    if only & {"data", "open", "v1"}:
        results += _data_and_open(only, args.quick)
    if "api" in only:
        console.print("API load (wrk)...")
        results += api.run(seconds=2 if args.quick else 5)
    if "scale" in only:
        console.print("catalog scale...")
        results += scale.run(args.quick)
    if "compute" in only:
        console.print("compute services (EDR, Tiles, DAP2, Zarr)...")
        with service() as svc:
            org = svc.new_org("bench")
            results += compute.run(Client(svc.url, token=org.token), org.name, args.quick)
    if "v1" in only:
        console.print("V1 commits and lookups at scale (PostgreSQL)...")
        results += v1.run_postgres(args.quick, args.v1_references, args.v1_commits)
    if "web" in only:
        console.print("web app pages at 10,000 repos (SQLite, PostgreSQL)...")
        results += web.run(args.quick)
    if "maintenance" in only:
        console.print("maintenance runs (dry run, expire, collect) by repo size...")
        results += maintenance.run(args.quick)
    report(results, args.out)


if __name__ == "__main__":
    main()
