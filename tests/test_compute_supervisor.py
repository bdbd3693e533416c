"""The service runs each enabled compute deployment as a real ``python -m arraylake.dataplane`` process
group, reports its true status, restarts it when it crashes or changes, puts it to sleep when idle, brings
it back after a service restart, keeps its log in a bounded ring, and forwards its data URLs to it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Row

from arraylake.server.compute import records
from arraylake.server.compute.logbook import CURRENT, PREVIOUS, Logbook, follow_lines, log_dir, read_lines
from arraylake.server.compute.supervisor import MARKER, owner_key
from arraylake.server.db.engine import make_engine
from arraylake.server.orgs.service import org_id_by_name
from arraylake.types.compute import ServiceConfig, ServiceType
from tests.support.processes import wait_until
from tests.support.service import ArraylakeService, Org

START_SECONDS = 60


# ------------------------------------------------------------------------------------------- helpers


class Catalog:
    """The service's catalog rows of compute deployments, read and written as the control API does."""

    def __init__(self, service: ArraylakeService):
        self.url = service.settings.resolved_database_url

    def _run(self, work: Callable[[Any], Any], *, write: bool = False) -> Any:
        async def go() -> Any:
            engine = make_engine(self.url)
            try:
                async with engine.begin() if write else engine.connect() as conn:
                    return await work(conn)
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def enable(self, org: Org, name: str, *, min_replicas: int = 1, kind: str = "zarr") -> str:
        config = ServiceConfig(service_type=ServiceType(kind), org=org.name, min_replicas=min_replicas)

        async def work(conn: Any) -> str:
            org_id = await org_id_by_name(conn, org.name)
            return await records.insert_service(
                conn, org_id=org_id, name=name, config=config, sku_code="xs", region="local", created_by=None
            )

        return self._run(work, write=True)

    def change(self, service_id: str, **values: Any) -> None:
        self._run(lambda conn: records.change_service(conn, service_id, **values), write=True)

    def row(self, service_id: str) -> Row:
        async def work(conn: Any) -> Row:
            rows = await records.supervised_rows(conn)
            found = [r for r in rows if r.id == service_id]
            if found:
                return found[0]
            from sqlalchemy import select

            from arraylake.server.db.schema import compute_services

            return (
                await conn.execute(select(compute_services).where(compute_services.c.id == service_id))
            ).one()

        return self._run(work)

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
            raise AssertionError(
                f"never {status}; statuses seen: {seen}; row: {self.row(service_id)}"
            ) from None
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


def log_text(service: ArraylakeService, service_id: str) -> str:
    return "\n".join(read_lines(service.data_dir, service_id, tail=None, since=None, until=None))


@pytest.fixture
def running(fresh_service: ArraylakeService) -> ArraylakeService:
    fresh_service.start()
    return fresh_service


# --------------------------------------------------------------------------------------------- tests


def test_deployment_lifecycle(running: ArraylakeService) -> None:
    """enable -> progressing -> available (ready replicas = min_replicas); a new generation restarts the
    group; SIGKILL -> error naming the signal -> available again by itself; disable -> stopped, no process
    left; the log holds the deployment's own output and the supervisor's events."""
    catalog = Catalog(running)
    org = running.new_org()
    sid = catalog.enable(org, "zarr-a", min_replicas=2)
    assert catalog.row(sid).status == "progressing"
    row = catalog.wait_status(sid, "available")
    assert row.ready_replicas == 2 and row.port
    first = groups(running, sid)
    assert len(first) == 1
    health = httpx.get(f"http://127.0.0.1:{row.port}/_health", timeout=5).json()
    assert health["deployment"] == "zarr-a" and health["protocol"] == "zarr"

    # A new generation (what PATCH does) restarts the group.
    config = {**row.config, "min_replicas": 1}
    catalog.change(sid, config=config)
    wait_until(lambda: catalog.row(sid).running_generation == 2, 30, "the restart")
    row = catalog.wait_status(sid, "available")
    assert row.ready_replicas == 1
    second = groups(running, sid)
    assert len(second) == 1 and second != first

    # A crash: the whole group killed.
    os.killpg(second.pop(), signal.SIGKILL)
    row = catalog.wait_status(sid, "error", 20)
    assert "SIGKILL" in row.status_detail, row.status_detail
    row = catalog.wait_status(sid, "available")
    assert row.restarts == 1 and row.status_detail is None

    catalog.change(sid, desired=records.STOPPED)
    row = catalog.wait_status(sid, "stopped", 30)
    assert row.ready_replicas == 0 and row.port is None
    assert groups(running, sid) == set()

    text = log_text(running, sid)
    for event in (
        "[supervisor] starting generation 1",
        "ready after",
        "configuration changed",
        "killed by signal SIGKILL",
        "restarting in 1 s",
        "stopped: disabled",
    ):
        assert event in text, event
    assert "Application startup complete" in text  # the deployment's own output (uvicorn's)
    first_line = text.splitlines()[0]
    stamp, stream, flag, _ = first_line.split(" ", 3)
    assert stream in ("stdout", "stderr") and flag == "F"
    assert datetime.fromisoformat(stamp[:26] + "+00:00") > datetime.now(UTC) - timedelta(minutes=5)


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
