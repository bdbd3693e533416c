"""Open latency: ``Client.get_repo`` versus ``icechunk.Repository.open`` on the same storage (each building
its storage object, as a user opening a repo does). Target: the Client adds at most one round trip to the
service: the median of the one request it makes (``GET /repos/{org}/{repo}/open``, timed with httpx)."""

from __future__ import annotations

import time

import httpx
import icechunk

from arraylake import Client
from arraylake.storage import credentials_from_bucket, icechunk_storage
from benchmarks.stats import Result, interleaved, median


def run(client: Client, name: str, label: str, rounds: int) -> list[Result]:
    org, repo = name.split("/")
    record = client.get_repo_object(name)
    bucket, prefix = record.bucket, record.prefix
    assert bucket is not None
    credentials = credentials_from_bucket(bucket)  # HMAC or none: what a user of icechunk would hold

    def via_client() -> float:
        started = time.perf_counter()
        client.get_repo(name)
        return time.perf_counter() - started

    def via_icechunk() -> float:
        started = time.perf_counter()
        icechunk.Repository.open(icechunk_storage(bucket, prefix, credentials))
        return time.perf_counter() - started

    for _ in range(3):  # warm connections and caches
        via_client(), via_icechunk()
    client_s, direct_s = interleaved(via_client, via_icechunk, rounds)
    headers = {"authorization": f"Bearer {client.token}"}
    with httpx.Client(base_url=client.service_uri, headers=headers) as http:
        trips = []
        for _ in range(rounds):
            started = time.perf_counter()
            http.get(f"/repos/{org}/{repo}/open").raise_for_status()
            trips.append(time.perf_counter() - started)
    added_ms = (median(client_s) - median(direct_s)) * 1000
    trip_ms = median(trips) * 1000
    return [
        Result(
            "open latency",
            f"get_repo - icechunk open, {label}",
            added_ms,
            "ms",
            f"<= 1 round trip ({trip_ms:.2f} ms)",
            added_ms <= trip_ms * 1.5,
            {
                "get_repo_ms": median(client_s) * 1000,
                "icechunk_open_ms": median(direct_s) * 1000,
                "round_trip_ms": trip_ms,
                "rounds": rounds,
            },
        )
    ]
