"""PostgreSQL stopped and restarted under load: requests in the outage get 503 with a clear detail, and the
service recovers by itself, without a restart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from arraylake import Client
from arraylake.server.bootstrap import migrate
from tests.support.postgres import PostgresCluster
from tests.support.service import ArraylakeService

pytestmark = pytest.mark.reliability


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    pg = PostgresCluster()
    pg.start()
    yield pg
    pg.stop()


def test_database_outage_gives_503_then_recovers(cluster: PostgresCluster, tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path, cluster.create_database("outage"))
    asyncio.run(migrate(service.settings))
    service.start()
    try:
        org = service.new_org("outage")
        Client(org.url, token=org.token).create_repo(f"{org.name}/steady")
        answers: list[tuple[float, int, str]] = []
        stop = threading.Event()

        def load() -> None:
            with httpx.Client(headers={"authorization": f"Bearer {org.token}"}, timeout=10) as http:
                while not stop.is_set():
                    try:
                        response = http.get(f"{org.url}/repos/{org.name}/steady")
                        detail = response.json().get("detail", "") if response.status_code != 200 else ""
                        answers.append((time.monotonic(), response.status_code, str(detail)))
                    except httpx.HTTPError as exc:
                        answers.append((time.monotonic(), 0, type(exc).__name__))
                    time.sleep(0.01)

        workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for worker in workers:
            worker.start()
        time.sleep(2)
        down = time.monotonic()
        cluster.stop(remove=False)
        time.sleep(3)
        restarting = time.monotonic()
        cluster.restart()
        up = time.monotonic()
        time.sleep(4)
        stop.set()
        for worker in workers:
            worker.join(10)
    finally:
        service.stop()

    during = [a for a in answers if down + 0.5 < a[0] < restarting]
    after = [a for a in answers if a[0] > up + 2]
    assert during and all(status == 503 for _, status, _ in during), {s for _, s, _ in during}
    assert all("catalog database is unavailable" in detail for _, _, detail in during)
    assert after and all(status == 200 for _, status, _ in after), {s for _, s, _ in after}
    assert not [a for a in answers if a[1] >= 500 and a[1] != 503]
