"""Open latency: ``Client.get_repo`` versus ``icechunk.Repository.open`` on the same storage (each building
its storage object, as a user opening a repo does).

Target: the Client adds at most one round trip to the service. A round trip is the request ``get_repo``
makes (``GET /repos/{org}/{repo}/open``), sent from a bare httpx client. The three are interleaved
(get_repo, icechunk, the request, ...) so that each runs in the same conditions: on a virtual machine a
request that follows a pause or other work is slower than one that follows another request at once. The
benchmark also counts the requests ``get_repo`` makes: one.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import icechunk

from arraylake import Client
from arraylake.storage import credentials_from_bucket, icechunk_storage
from benchmarks.stats import Result, interleaved, median, timed

TOLERANCE = 1.25
"""How far over one round trip the added time may be and still count as one: the client's own work (reading
the answer, building the storage) is ~0.1-0.2 ms, and medians on this machine drift ~10% between runs."""


def run(client: Client, name: str, label: str, rounds: int) -> list[Result]:
    org, repo = name.split("/")
    record = client.get_repo_object(name)
    bucket, prefix = record.bucket, record.prefix
    assert bucket is not None
    credentials = credentials_from_bucket(bucket)  # HMAC or none: what a user of icechunk would hold
    headers = {"authorization": f"Bearer {client.token}"}
    with httpx.Client(base_url=client.service_uri, headers=headers) as http:
        arms = (
            lambda: timed(lambda: client.get_repo(name)),
            lambda: timed(lambda: icechunk.Repository.open(icechunk_storage(bucket, prefix, credentials))),
            lambda: timed(lambda: http.get(f"/repos/{org}/{repo}/open").raise_for_status()),
        )
        interleaved(*arms, rounds=3)  # warm connections and caches
        requests = _requests_per_get_repo(client, name)
        client_s, direct_s, trips = interleaved(*arms, rounds=rounds)
    added_ms = (median(client_s) - median(direct_s)) * 1000
    trip_ms = median(trips) * 1000
    return [
        Result(
            "open latency",
            f"get_repo - icechunk open, {label}",
            added_ms,
            "ms",
            f"<= 1 round trip ({trip_ms:.2f} ms); {requests} request",
            requests == 1 and added_ms <= trip_ms * TOLERANCE,
            {
                "get_repo_ms": median(client_s) * 1000,
                "icechunk_open_ms": median(direct_s) * 1000,
                "round_trip_ms": trip_ms,
                "added_over_round_trip": added_ms / trip_ms,
                "requests_per_get_repo": requests,
                "rounds": rounds,
            },
        )
    ]


def _requests_per_get_repo(client: Client, name: str) -> int:
    """The requests one ``get_repo`` sends, counted on the client's connections (blocking and async)."""
    sent: list[httpx.Request] = []

    async def note(request: httpx.Request) -> None:
        sent.append(request)

    transport = client.aclient._transport
    hooked: list[tuple[httpx.Client | httpx.AsyncClient, Callable[..., object]]] = [
        (transport._blocking_client(), sent.append),
        *((http, note) for http in transport._clients.values()),
    ]
    for http, hook in hooked:
        http.event_hooks["request"].append(hook)
    try:
        client.get_repo(name)
    finally:
        for http, hook in hooked:
            http.event_hooks["request"].remove(hook)
    return len(sent)
