"""Running the service as an operator sees it: what `server start` prints, probes for load balancers,
Prometheus metrics, and API documentation that works without internet."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from arraylake import Client
from tests.support.postgres import PostgresCluster
from tests.support.processes import wait_until
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org

METRICS_TOKEN = "metrics-secret-" + "x" * 16
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str, token: str | None = METRICS_TOKEN) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def json_records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]  # fails on any line that is not JSON


# ------------------------------------------------------------------------------------------- start-up


def test_start_says_what_it_serves_in_a_few_lines(fresh_service: ArraylakeService) -> None:
    fresh_service.start(extra_env={"ARRAYLAKE_SERVER_WORKERS": "2"})
    wait_until(lambda: "Ready" in fresh_service.output_text(), 30, "the ready line")
    fresh_service.stop()

    lines = fresh_service.output_text().splitlines()
    assert len(lines) <= 7, lines
    text = "\n".join(lines)
    assert lines[0].startswith("Arraylake ") and lines[0].split()[1][0].isdigit()
    assert f"http://127.0.0.1:{fresh_service.port}" in text
    assert f"SQLite {fresh_service.data_dir.resolve() / 'catalog.db'}" in text
    assert f"data dir: {fresh_service.data_dir.resolve()}" in text
    assert "workers:  2" in text
    assert lines[-1].startswith("Ready")

    # standard error is the machines' log: JSON only, one "service ready" per worker, no uvicorn chatter
    records = json_records(fresh_service.log_text())
    assert [r["event"] for r in records].count("service ready") == 2
    assert not [r for r in records if r.get("logger", "").startswith("uvicorn")]


def test_start_names_the_postgres_catalog_but_never_its_password(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    url = postgres.create_database(f"ops_{uuid.uuid4().hex[:8]}")
    with_password = url.replace("postgres@", "postgres:pw-never-printed@")  # trust auth ignores it
    service = ArraylakeService(tmp_path, with_password)
    service.cli("server", "migrate", "--data-dir", str(service.data_dir))
    service.start()
    try:
        wait_until(lambda: "Ready" in service.output_text(), 30, "the ready line")
    finally:
        service.stop()
    database = url.rsplit("/", 1)[1]
    assert f"PostgreSQL database {database} on 127.0.0.1:{postgres.port} as postgres" in service.output_text()
    assert "pw-never-printed" not in service.output_text() + service.log_text()


def test_a_port_in_use_is_one_clear_error_before_any_ready(fresh_service: ArraylakeService) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", fresh_service.port))
        other.listen()
        started = subprocess.run(
            [sys.executable, "-m", "arraylake", "server", "start", "--port", str(fresh_service.port)],
            env=fresh_service.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert started.returncode != 0
    assert started.stderr.strip() == (
        f"Error: port {fresh_service.port} on 127.0.0.1 is already in use: stop the other process or set "
        "ARRAYLAKE_SERVER_PORT (or --port)"
    )
    assert started.stdout == ""  # no summary, no "Ready": nothing started


# -------------------------------------------------------------------------------------------- probes


def test_health_and_ready_and_a_catalog_behind_on_migrations(fresh_service: ArraylakeService) -> None:
    fresh_service.start()
    url = fresh_service.url
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    ready = httpx.get(f"{url}/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    head = ready.json()["schema_revision"]
    assert httpx.get(f"{url}/metrics").status_code == 404  # METRICS is off by default

    catalog = fresh_service.data_dir / "catalog.db"
    with sqlite3.connect(catalog) as db:  # as after an upgrade whose `server migrate` has not run yet
        db.execute("UPDATE alembic_version SET version_num = 'an-older-revision'")
    try:
        behind = httpx.get(f"{url}/ready")
        assert behind.status_code == 503
        assert behind.json()["detail"] == (
            f"not ready: the catalog schema is at an-older-revision, this service needs {head}: "
            "run `arraylake server migrate`"
        )
        assert httpx.get(f"{url}/health").status_code == 200  # alive all the same: no restart wanted
    finally:
        with sqlite3.connect(catalog) as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (head,))
    assert httpx.get(f"{url}/ready").status_code == 200


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL of this test's own, to stop."""
    pg = PostgresCluster()
    pg.start()
    yield pg
    pg.stop()


def test_not_ready_while_postgres_is_stopped(cluster: PostgresCluster, tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path, cluster.create_database("ops_outage"))
    service.cli("server", "migrate", "--data-dir", str(service.data_dir))
    service.start()
    try:
        assert httpx.get(f"{service.url}/ready").status_code == 200
        cluster.stop(remove=False)
        down = httpx.get(f"{service.url}/ready", timeout=10)
        assert down.status_code == 503
        assert down.json()["detail"] == "not ready: the catalog database is unavailable"
        assert httpx.get(f"{service.url}/health").status_code == 200
        cluster.restart()
        wait_until(lambda: httpx.get(f"{service.url}/ready").status_code == 200, 30, "ready again")
    finally:
        service.stop()


# ------------------------------------------------------------------------------------------- metrics


@pytest.fixture
def metered(fresh_service: ArraylakeService) -> ArraylakeService:
    fresh_service.start(
        extra_env={
            "ARRAYLAKE_SERVER_METRICS": "token",
            "ARRAYLAKE_SERVER_METRICS_TOKEN": METRICS_TOKEN,
            # no janitor commit (which clears the catalog cache) and no expiry in the middle of a test
            "ARRAYLAKE_SERVER_JANITOR_INTERVAL_SECONDS": "600",
            "ARRAYLAKE_SERVER_CATALOG_CACHE_SECONDS": "600",
        }
    )
    return fresh_service


def test_metrics_need_their_token(metered: ArraylakeService) -> None:
    url = f"{metered.url}/metrics"
    missing = httpx.get(url)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    org = metered.new_org()
    for wrong in (METRICS_TOKEN[:-1] + "y", org.token):  # an admin's API token is no metrics token
        refused = httpx.get(url, headers={"authorization": f"Bearer {wrong}"})
        assert refused.status_code == 403, refused.text
        assert METRICS_TOKEN not in refused.text
    assert httpx.get(url, headers={"authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    assert METRICS_TOKEN not in metered.log_text()


def test_metrics_need_a_token_of_some_length(tmp_path: Path) -> None:
    service = ArraylakeService(tmp_path, env={"ARRAYLAKE_SERVER_METRICS": "token"})
    refused = service.cli("server", "start", check=False)
    assert refused.returncode == 1
    assert "METRICS=token needs METRICS_TOKEN" in refused.stderr


def _lookup(org: Org, repo: str) -> httpx.Response:
    return httpx.get(f"{org.url}/repos/{org.name}/{repo}", headers={"authorization": f"Bearer {org.token}"})


def test_requests_are_counted_by_route_template(metered: ArraylakeService) -> None:
    org = metered.new_org()
    Client(org.url, token=org.token).create_repo(f"{org.name}/counted")
    before = scrape(metered.url)
    for _ in range(3):
        assert _lookup(org, "counted").status_code == 200
    assert _lookup(org, "absent").status_code == 404
    assert httpx.get(f"{metered.url}/no/such/{uuid.uuid4().hex}").status_code == 404
    after = scrape(metered.url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    lookup = {"method": "GET", "route": "/repos/{org}/{repo}"}
    assert moved("arraylake_http_requests_total", **lookup, status="200") == 3
    assert moved("arraylake_http_requests_total", **lookup, status="404") == 1
    assert moved("arraylake_http_request_duration_seconds_count", **lookup, status="200") == 3
    assert moved("arraylake_http_requests_total", method="GET", route="unmatched", status="404") == 1
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not [r for r in routes if org.name in r or "counted" in r or "/no/such" in r], routes
    # the first lookup read the catalog, the next two the cache (the 404 reads it too)
    assert moved("arraylake_catalog_cache_requests_total", result="miss") >= 1
    assert moved("arraylake_catalog_cache_requests_total", result="hit") >= 2
    pool = [value(after, "arraylake_catalog_pool_connections", state=s) for s in ("checked_out", "idle")]
    assert sum(pool) >= 1  # the pool has connections; the scrape itself holds none


def test_credential_vends_are_counted_by_method_and_outcome(
    metered: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = metered.new_org("sts", local_bucket=False)
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="vended", **seaweed.sts_bucket_config(s3_bucket))
    client.set_default_bucket_config(org=org.name, nickname="vended")
    before = scrape(metered.url)
    client.create_repo(f"{org.name}/vended")  # the admin writes: an STS session
    created = scrape(metered.url)
    credentials = f"{org.url}/repos/{org.name}/vended/bucket-credentials"
    for _ in range(2):  # the same session again
        answer = httpx.get(credentials, headers={"authorization": f"Bearer {org.token}"})
        assert answer.status_code == 200, answer.text
    after = scrape(metered.url)

    def moved(start: Samples, end: Samples, outcome: str) -> float:
        labels = {"method": "sts_assume_role", "outcome": outcome}
        name = "arraylake_credential_vends_total"
        return value(end, name, **labels) - value(start, name, **labels)

    assert moved(before, created, "issued") >= 1
    assert [moved(created, after, o) for o in ("issued", "reused", "refused", "failed")] == [0, 2, 0, 0]


def test_with_two_workers_every_scrape_counts_every_worker(fresh_service: ArraylakeService) -> None:
    temp = fresh_service.root / "tmp"
    temp.mkdir()
    fresh_service.start(
        extra_env={"ARRAYLAKE_SERVER_WORKERS": "2", "ARRAYLAKE_SERVER_METRICS": "open", "TMPDIR": str(temp)}
    )
    (metrics_dir,) = temp.glob("arraylake-metrics-*")  # the private directory the command made
    assert metrics_dir.stat().st_mode & 0o077 == 0

    def answered_by_worker() -> list[float]:
        """Per worker (its file of counters), how many ``GET /`` it answered."""
        counts = []
        for path in metrics_dir.glob("counter_*.db"):
            with contextlib.closing(MmapedDict(str(path), read_mode=True)) as values:
                rows = values.read_all_values()
                counts.append(sum(v for key, v, _ in rows if '"route": "/"' in key and "_total" in key))
        return counts

    base = scrape(fresh_service.url, token=None)
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        # each request on a new connection, so that both workers take some
        while sum(1 for n in answered_by_worker() if n > 0) < 2 and sent < 2000:
            codes = list(pool.map(lambda _: httpx.get(f"{fresh_service.url}/").status_code, range(40)))
            assert codes == [200] * 40
            sent += 40
    assert len(answered_by_worker()) == 2 and min(answered_by_worker()) > 0, "both workers answered"

    root = {"method": "GET", "route": "/", "status": "200"}
    expected = value(base, "arraylake_http_requests_total", **root) + sent
    for _ in range(6):  # whichever worker answers the scrape counts both workers' requests
        found = scrape(fresh_service.url, token=None)
        assert value(found, "arraylake_http_requests_total", **root) == expected

    fresh_service.stop()
    assert not metrics_dir.exists()


# --------------------------------------------------------------------------------- documentation


def test_api_documentation_loads_nothing_from_elsewhere(fresh_service: ArraylakeService) -> None:
    fresh_service.start()
    url = fresh_service.url
    html = httpx.get(f"{url}/docs")
    assert html.status_code == 200
    assert "http://" not in html.text and "https://" not in html.text, html.text
    policy = html.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self' 'nonce-" in policy
    assert html.headers["x-content-type-options"] == "nosniff"
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        assert f'"/docs/assets/{name}"' in html.text
        asset = httpx.get(f"{url}/docs/assets/{name}")
        assert asset.status_code == 200 and len(asset.content) > 500
        expected = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}[Path(name).suffix]
        assert asset.headers["content-type"].startswith(expected)  # nosniff: the type must be right
    assert httpx.get(f"{url}/redoc").status_code == 404  # ReDoc's bundle would fetch from its CDN
    assert httpx.get(f"{url}/docs/assets/..%2Fcore.py").status_code == 404
    assert httpx.get(f"{url}/docs/assets/core.py").status_code == 404


def test_api_documentation_renders_in_a_browser_offline(fresh_service: ArraylakeService) -> None:
    """In a real Chromium: the page draws the API under its CSP, asking nothing of any other host."""
    from playwright.sync_api import sync_playwright

    from tests.test_browser_login import CHROMIUM, CHROMIUM_ARGS

    fresh_service.start()
    own = (fresh_service.url, "data:", "blob:")
    elsewhere: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("request", lambda r: None if r.url.startswith(own) else elsewhere.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            page.goto(fresh_service.url + "/docs")
            page.wait_for_selector(".opblock-tag", timeout=30_000)
            assert "repos" in page.content()
        finally:
            browser.close()
    assert not elsewhere, elsewhere
    assert not problems, problems
