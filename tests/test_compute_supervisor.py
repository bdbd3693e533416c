"""The service runs each enabled compute deployment as a real ``python -m arraylake.dataplane`` process
group, reports its true status, restarts it when it crashes or changes, puts it to sleep when idle, brings
it back after a service restart, keeps its log in a bounded ring, and forwards its data URLs to it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import xarray as xr
from sqlalchemy import select
from sqlalchemy.engine import Row

from arraylake import Client
from arraylake.server.compute import records
from arraylake.server.compute.logbook import CURRENT, PREVIOUS, Logbook, follow_lines, log_dir, read_lines
from arraylake.server.compute.supervisor import LIVENESS_FAILURES, LIVENESS_SECONDS, MARKER, owner_key
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import api_tokens, compute_services
from tests.dataplane.conftest import cf_dataset
from tests.support.processes import wait_until
from tests.support.service import ArraylakeService, Org

START_SECONDS = 60


# ------------------------------------------------------------------------------------------- helpers


class Compute:
    """An org's compute services, changed through the control API as clients do; their catalog rows read
    directly (the supervisor's observations: port, restarts, running generation)."""

    def __init__(self, service: ArraylakeService, org: Org):
        self.service, self.org = service, org
        self.http = httpx.Client(
            base_url=f"{service.url}/compute/orgs/{org.name}",
            headers={"authorization": f"Bearer {org.token}"},
            timeout=30,
        )

    def enable(self, name: str, *, min_replicas: int = 1, is_public: bool = False, kind: str = "zarr") -> str:
        """Enable a deployment (Zarr by default); its id."""
        body = {
            "service_type": kind,
            "org": self.org.name,
            "deployment_name": name,
            "min_replicas": min_replicas,
            "is_public": is_public,
            "sku_code": "xs",
        }
        response = self.http.post("/services", json=body)
        assert response.status_code == 201, response.text
        return self._catalog(lambda conn: records.service_row_by_org_name(conn, self.org.name, name)).id

    def update(self, name: str, **changes: Any) -> None:
        response = self.http.patch(f"/services/{name}", json=changes)
        assert response.status_code == 200, response.text

    def disable(self, name: str) -> None:
        response = self.http.delete(f"/services/{name}")
        assert response.status_code == 200, response.text

    def logs(self, name: str) -> str:
        response = self.http.get(f"/services/{name}/logs", params={"tail": 100_000})
        assert response.status_code == 200, response.text
        return response.text

    def _catalog(self, work: Callable[[Any], Any]) -> Any:
        async def go() -> Any:
            engine = make_engine(self.service.settings.resolved_database_url)
            try:
                async with engine.connect() as conn:
                    return await work(conn)
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def row(self, service_id: str) -> Row:
        async def work(conn: Any) -> Row:
            query = select(compute_services).where(compute_services.c.id == service_id)
            return (await conn.execute(query)).one()

        return self._catalog(work)

    def wait_status(self, service_id: str, status: str, timeout: float = START_SECONDS) -> Row:
        seen: list[str] = []

        def check() -> bool:
            row = self.row(service_id)
            if not seen or seen[-1] != row.status:
                seen.append(row.status)
            return row.status == status

        try:
            wait_until(check, timeout, f"status {status}", interval=0.2)
        except TimeoutError:
            raise AssertionError(f"never {status}; seen: {seen}; row: {self.row(service_id)}") from None
        return self.row(service_id)


def groups(service: ArraylakeService, service_id: str | None = None) -> set[int]:
    """The process groups of the service's deployments (of one of them), found by the marker the
    supervisor puts in their environment."""
    wanted = f"{MARKER}={owner_key(service.data_dir)}/{service_id or ''}".encode()
    found: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes().split(b"\0")
            if any(item.startswith(wanted) for item in environ):
                found.add(os.getpgid(int(entry.name)))
        except OSError:
            continue
    return found


def reader_token(group: int) -> str:
    """The reader token in the environment of a public deployment's processes."""
    environ = Path(f"/proc/{group}/environ").read_bytes().split(b"\0")
    prefix = b"ARRAYLAKE_DATAPLANE_READER_TOKEN="
    (token,) = [item[len(prefix) :].decode() for item in environ if item.startswith(prefix)]
    return token


def active_tokens(compute: Compute, principal_id: str) -> int:
    async def work(conn: Any) -> int:
        query = select(api_tokens).where(
            api_tokens.c.principal_id == principal_id, api_tokens.c.revoked_at.is_(None)
        )
        return len((await conn.execute(query)).all())

    return compute._catalog(work)


@pytest.fixture
def running(fresh_service: ArraylakeService) -> ArraylakeService:
    fresh_service.start()
    return fresh_service


def rss(pid: int) -> int:
    """The resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


BIG_CHUNK = (1, 2048, 6144)
"""48 MiB of float32: under the xs SKU's 64 MiB response limit."""


def publish(service: ArraylakeService, org: Org, chunk: tuple[int, int, int] = BIG_CHUNK) -> np.ndarray:
    """A repo ``big`` of ``org`` with one uncompressed array of two chunks; its values."""
    values = np.random.default_rng(0).random((2, *chunk[1:]), dtype="float32")
    repo = Client(service.url, token=org.token).create_repo(f"{org.name}/big")
    session = repo.writable_session("main")
    ds = xr.Dataset({"big": (("t", "y", "x"), values)})
    encoding = {"big": {"chunks": chunk, "compressors": None}}
    ds.to_zarr(session.store, mode="w", consolidated=False, zarr_format=3, encoding=encoding)
    session.commit("two chunks")
    return values


# --------------------------------------------------------------------------------------------- tests


def test_proxy_forwards_and_streams(running: ArraylakeService) -> None:
    """Data URLs under /v1/services/{deployment}/{org}/... reach the deployment as they were sent (method,
    path, headers, credentials: the data plane authenticates) and come back streamed: 96 MiB pass through
    the service without its memory growing by a chunk."""
    org = running.new_org()
    compute = Compute(running, org)
    values = publish(running, org)
    sid = compute.enable("zarr-p")
    row = compute.wait_status(sid, "available")
    auth = (org.name, org.token)
    base = f"{running.url}/v1/services/zarr-p/{org.name}/big/main/zarr"
    direct = f"http://127.0.0.1:{row.port}/{org.name}/big/main/zarr"
    with httpx.Client(timeout=60) as http:
        meta = http.get(f"{base}/big/zarr.json", auth=auth)
        assert meta.status_code == 200, meta.text
        assert meta.content == http.get(f"{direct}/big/zarr.json", auth=auth).content
        assert meta.json()["shape"] == list(values.shape)
        anonymous = http.get(f"{base}/big/zarr.json")
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Basic")
        again = http.get(f"{base}/big/zarr.json", auth=auth, headers={"If-None-Match": meta.headers["etag"]})
        assert again.status_code == 304
        for item in ("big/zarr.json", "big/c/0/0/0"):  # HEAD: the deployment's answer, without a body
            head, direct_head = (
                http.head(f"{base}/{item}", auth=auth),
                http.head(f"{direct}/{item}", auth=auth),
            )
            assert (head.status_code, head.content) == (direct_head.status_code, b"")
            assert head.headers.get("content-length") == direct_head.headers.get("content-length")

        pid = running.process.proc.pid
        before, most = rss(pid), 0
        for t in range(2):
            digest, size = hashlib.sha256(), 0
            with http.stream("GET", f"{base}/big/c/{t}/0/0", auth=auth) as response:
                assert response.status_code == 200
                assert int(response.headers["content-length"]) == values[t].nbytes
                for piece in response.iter_raw():
                    digest.update(piece)
                    size += len(piece)
                    most = max(most, rss(pid))  # while the service is sending it
            assert size == values[t].nbytes
            assert digest.hexdigest() == hashlib.sha256(values[t].tobytes()).hexdigest()
        grown = most - before
        assert grown < values[0].nbytes // 3, f"the service grew by {grown / 2**20:.0f} MiB"

        unknown = http.get(f"{running.url}/v1/services/nope/{org.name}/big/main/zarr/zarr.json", auth=auth)
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == f"compute service nope not found in org {org.name}"

        compute.disable("zarr-p")
        compute.wait_status(sid, "stopped", 30)
        wait_until(lambda: http.get(f"{base}/zarr.json", auth=auth).status_code == 503, 10, "the 503")
        stopped = http.get(f"{base}/zarr.json", auth=auth)
        assert "is disabled" in stopped.json()["detail"] and stopped.headers["retry-after"]


def test_enable_run_disable(running: ArraylakeService) -> None:
    """enable -> progressing -> available with ready replicas = min_replicas, each a process of the
    deployment's group; a public one reads anonymously through the proxy, its links point back at the
    proxy; disable -> stopped, no process left, the reader's token revoked; the log holds the deployment's
    own output and the supervisor's events, in the kubelet format."""
    org = running.new_org()
    compute = Compute(running, org)
    repo = Client(running.url, token=org.token).create_repo(f"{org.name}/cf")
    session = repo.writable_session("main")
    cf_dataset().to_zarr(session.store, mode="w", consolidated=False, zarr_format=3)
    session.commit("a CF dataset")
    sid = compute.enable("edr-a", min_replicas=2, is_public=True, kind="edr")
    assert compute.row(sid).status == "progressing"
    row = compute.wait_status(sid, "available")
    assert row.ready_replicas == 2 and row.port and row.running_generation == 1
    (group,) = groups(running, sid)
    members = [p for p in os.listdir("/proc") if p.isdigit() and _group_of(int(p)) == group]
    workers = [p for p in members if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(workers) == 2  # uvicorn's worker processes, under its parent
    health = httpx.get(f"http://127.0.0.1:{row.port}/_health", timeout=5).json()
    assert health["deployment"] == "edr-a" and health["protocol"] == "edr"

    # Public: anonymous callers read as the deployment's reader, whose token only the processes have;
    # the links the deployment builds use the public base the proxy sends.
    collection = f"{running.url}/v1/services/edr-a/{org.name}/cf/main/edr/"
    anonymous = httpx.get(collection, timeout=60)
    assert anonymous.status_code == 200, anonymous.text
    position = anonymous.json()["data_queries"]["position"]["link"]["href"]
    assert position == f"{collection}position"
    point = httpx.get(position, params={"coords": "POINT(0 0)", "f": "csv"}, timeout=60)
    assert point.status_code == 200 and "air" in point.text, point.text
    token = reader_token(group)
    reader = compute.row(sid).reader_id
    assert reader and active_tokens(compute, reader) == 1

    compute.disable("edr-a")
    row = compute.wait_status(sid, "stopped", 30)
    assert row.ready_replicas == 0 and row.port is None
    assert groups(running, sid) == set()
    assert httpx.get(collection, timeout=30).status_code == 503
    assert active_tokens(compute, reader) == 0

    text = compute.logs("edr-a")
    assert token not in text and token not in running.log_text()
    for event in ("[supervisor] starting generation 1", "ready after", "stopped: disabled"):
        assert event in text, event
    assert "Application startup complete" in text  # the deployment's own output (uvicorn's)
    stamp, stream, flag, _ = text.splitlines()[0].split(" ", 3)
    assert stream in ("stdout", "stderr") and flag == "F"
    assert datetime.fromisoformat(stamp[:26] + "+00:00") > datetime.now(UTC) - timedelta(minutes=5)


def _group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


@pytest.mark.reliability
def test_a_crash_or_a_change_restarts_the_group(running: ArraylakeService) -> None:
    """A new generation (what PATCH does) restarts the group with the new replicas; SIGKILL to the group
    -> error naming the signal -> available again by itself, the restart counted and logged; a group that
    hangs (SIGSTOP) is found out by its unanswered health checks and replaced."""
    org = running.new_org()
    compute = Compute(running, org)
    sid = compute.enable("zarr-c", min_replicas=2)
    row = compute.wait_status(sid, "available")
    first = groups(running, sid)

    compute.update("zarr-c", min_replicas=1)
    wait_until(lambda: compute.row(sid).running_generation == 2, 30, "the restart")
    row = compute.wait_status(sid, "available")
    assert row.ready_replicas == 1
    second = groups(running, sid)
    assert len(second) == 1 and second != first and not first & groups(running)

    os.killpg(second.pop(), signal.SIGKILL)
    row = compute.wait_status(sid, "error", 20)
    assert "killed by signal SIGKILL" in row.status_detail, row.status_detail
    refused = httpx.get(f"{running.url}/v1/services/zarr-c/{org.name}/r/main/zarr/zarr.json", timeout=30)
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert "is failing: killed by signal SIGKILL" in refused.json()["detail"]
    row = compute.wait_status(sid, "available")
    assert row.restarts == 1 and row.status_detail is None and len(groups(running, sid)) == 1
    text = compute.logs("zarr-c")
    for event in ("configuration changed (generation 2)", "killed by signal SIGKILL (9); restarting in 1 s"):
        assert event in text, event

    # A hang: the group stopped (SIGSTOP) answers nothing; it is replaced.
    (hung,) = groups(running, sid)
    os.killpg(hung, signal.SIGSTOP)
    row = compute.wait_status(sid, "error", LIVENESS_SECONDS * (LIVENESS_FAILURES + 1) + 10)
    assert "stopped answering its readiness check" in row.status_detail, row.status_detail
    row = compute.wait_status(sid, "available")
    assert row.restarts == 2 and hung not in groups(running)


@pytest.mark.reliability
def test_sleep_wake_and_service_restarts(fresh_service: ArraylakeService) -> None:
    """min_replicas=0: sleeping after the idle time, woken by a request through the proxy, which gets its
    data; a restart of the service (clean, or after SIGKILL) brings enabled deployments back, and no
    process of the old ones is left."""
    fresh_service.start({"ARRAYLAKE_SERVER_COMPUTE_IDLE_SECONDS": "3"})
    org = fresh_service.new_org()
    compute = Compute(fresh_service, org)
    values = publish(fresh_service, org, (1, 8, 16))
    sleepy = compute.enable("zarr-s", min_replicas=0)
    steady = compute.enable("zarr-r", min_replicas=1)
    row = compute.wait_status(sleepy, "available")
    assert row.ready_replicas == 1  # at least one process while it runs
    compute.wait_status(sleepy, "sleeping", 30)
    assert groups(fresh_service, sleepy) == set()

    chunk = f"{fresh_service.url}/v1/services/zarr-s/{org.name}/big/main/zarr/big/c/1/0/0"
    response = httpx.get(chunk, auth=(org.name, org.token), timeout=90)
    assert response.status_code == 200, response.text
    assert response.content == values[1].tobytes()
    assert compute.row(sleepy).status == "available"
    assert "sleeping until the next one" in compute.logs("zarr-s")
    assert "waking up" in compute.logs("zarr-s")

    before = groups(fresh_service)
    fresh_service.restart()
    assert not before & groups(fresh_service)  # stopped with the service
    row = compute.wait_status(steady, "available")
    assert "the service is stopping" in compute.logs("zarr-r")

    before = groups(fresh_service)
    fresh_service.kill()
    wait_until(lambda: not before & groups(fresh_service), 15, "the old deployments to end")
    fresh_service.start()
    row = compute.wait_status(steady, "available")
    assert not before & groups(fresh_service) and len(groups(fresh_service, steady)) == 1


def test_logbook_is_a_bounded_ring(tmp_path: Path) -> None:
    """Two files that rotate: never more than twice the file size; tail/since/until select lines."""
    book = Logbook(tmp_path, "sid", file_bytes=64 * 1024)
    for i in range(5000):
        book.write("stdout", f"line {i:05d} " + "x" * 100)
    files = sorted(p.name for p in log_dir(tmp_path, "sid").iterdir())
    assert files == [CURRENT, PREVIOUS]
    total = sum(p.stat().st_size for p in log_dir(tmp_path, "sid").iterdir())
    assert total <= 2 * 64 * 1024
    lines = read_lines(tmp_path, "sid", tail=None, since=None, until=None)
    assert lines[-1].split(" ")[3:5] == ["line", "04999"]
    assert 64 * 1024 // 160 < len(lines) < 5000
    assert read_lines(tmp_path, "sid", tail=3, since=None, until=None) == lines[-3:]
    assert read_lines(tmp_path, "sid", tail=0, since=None, until=None) == []
    middle = datetime.fromisoformat(lines[len(lines) // 2].split(" ")[0][:26] + "+00:00")
    later = read_lines(tmp_path, "sid", tail=None, since=middle, until=None)
    assert later and later[-1] == lines[-1] and len(later) < len(lines)
    earlier = read_lines(tmp_path, "sid", tail=None, since=None, until=middle.replace(tzinfo=None))
    assert earlier and earlier[0] == lines[0] and len(earlier) < len(lines)
    assert read_lines(tmp_path, "nobody", tail=None, since=None, until=None) == []

    long = "y" * 40_000
    book.write("stderr", long)
    pieces = read_lines(tmp_path, "sid", tail=3, since=None, until=None)
    assert [p.split(" ")[2] for p in pieces] == ["P", "P", "F"]
    assert "".join(p.split(" ", 3)[3] for p in pieces) == long


async def test_follow_yields_new_lines_across_rotation(tmp_path: Path) -> None:
    """``follow``: the selected lines, then each new one once, across rotations, for the time asked."""
    book = Logbook(tmp_path, "sid", file_bytes=4096)
    book.write("stdout", "before")

    async def writer() -> None:
        for i in range(60):
            book.write("stdout", f"after {i} " + "z" * 80)
            await asyncio.sleep(0.02)

    task = asyncio.create_task(writer())
    started = time.monotonic()
    got = [
        line.split(" ", 3)[3]
        async for line in follow_lines(tmp_path, "sid", tail=10, since=None, until=None, timeout=2.5)
    ]
    await task
    assert 2.4 < time.monotonic() - started < 4
    assert got[0] == "before"
    assert [g.split(" ")[1] for g in got[1:]] == [str(i) for i in range(60)]


def supervisors(service: ArraylakeService) -> list[int]:
    """The service processes that took the supervisor's lock, in order (from the service's log)."""
    found = []
    for line in service.log_text().splitlines():
        if '"supervising compute services"' in line:
            found.append(json.loads(line)["pid"])
    return found


@pytest.mark.reliability
def test_another_worker_takes_over_when_the_supervisor_dies(fresh_service: ArraylakeService) -> None:
    """With several service workers one supervises; SIGKILL to it: its deployments end with it, another
    worker takes the lock and starts them again."""
    fresh_service.start({"ARRAYLAKE_SERVER_WORKERS": "2"})
    org = fresh_service.new_org()
    compute = Compute(fresh_service, org)
    sid = compute.enable("zarr-w")
    old_port = compute.wait_status(sid, "available").port
    (holder,) = supervisors(fresh_service)
    before = groups(fresh_service, sid)

    os.kill(holder, signal.SIGKILL)
    wait_until(lambda: len(supervisors(fresh_service)) == 2, 30, "another supervisor")
    assert supervisors(fresh_service)[1] != holder
    wait_until(lambda: not before & groups(fresh_service), 15, "the old group to end")
    wait_until(lambda: compute.row(sid).port != old_port, 30, "a new start")
    row = compute.wait_status(sid, "available")
    assert len(groups(fresh_service, sid)) == 1 and not before & groups(fresh_service, sid)
    assert row.status_detail is None and row.port != old_port
