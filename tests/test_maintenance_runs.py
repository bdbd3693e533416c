"""Maintenance runs on SeaweedFS, executed by real service processes: scheduled in their window, once; safe
for writers working during a run; resumed by another worker after a crash; dry runs that delete nothing;
and the same scheduler purging soft-deleted repos after their grace period."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import icechunk
import numpy as np
import pytest
import zarr
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake import Client
from arraylake.server import faults
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import audit_log, maintenance_runs, orgs, repos
from arraylake.server.maintenance import runs
from arraylake.server.maintenance.policy import effective
from arraylake.types import utcnow
from arraylake.types.maintenance import (
    ExpirationConfig,
    GCConfig,
    MaintenanceReport,
    OptimizationConfig,
    OptimizationWindow,
)
from tests.conftest import make_service
from tests.support.processes import wait_until
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org, run_coroutine

ENV = {
    "ARRAYLAKE_SERVER_JANITOR_INTERVAL_SECONDS": "0.5",
    "ARRAYLAKE_SERVER_MAINTENANCE_LEASE_SECONDS": "3",
    "ARRAYLAKE_SERVER_MAINTENANCE_MIN_GC_MARGIN_SECONDS": "0",
    "ARRAYLAKE_SERVER_DELETION_GRACE_SECONDS": "2",
}
HELD = {"ARRAYLAKE_SERVER_FAULT_INJECTION": faults.MAINTENANCE_HELD}
RUN_TIMEOUT = 120


# ------------------------------------------------------------------------------------------------ helpers


def in_catalog[T](service: ArraylakeService, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the service's catalog, from the test process."""

    async def go() -> T:
        engine = make_engine(service.settings.resolved_database_url, pool_size=1)
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return run_coroutine(go())


def repo_id(service: ArraylakeService, org: str, name: str) -> str:
    async def find(conn: AsyncConnection) -> str:
        return (
            await conn.execute(
                select(repos.c.id)
                .join(orgs, orgs.c.id == repos.c.org_id)
                .where(orgs.c.name == org, repos.c.name == name)
            )
        ).scalar_one()

    return in_catalog(service, find)


def open_window() -> OptimizationWindow:
    """A weekly window that opened a minute ago and lasts an hour."""
    start = utcnow() - timedelta(minutes=1)
    return OptimizationWindow(
        day_of_week=start.weekday(),
        start_time=start.time().replace(microsecond=0),
        duration=timedelta(hours=1),
    )


def policy(margin: float) -> OptimizationConfig:
    """Expire everything that is not a tip or the root; collect unreachable objects older than ``margin``."""
    return OptimizationConfig(
        window=open_window(),
        expiration_config=ExpirationConfig(expire_versions_older_than=timedelta(0), enabled=True),
        gc_config=GCConfig(
            dangling_chunks=timedelta(seconds=margin),
            dangling_manifests=timedelta(seconds=margin),
            dangling_snapshots=timedelta(seconds=margin),
            dangling_transaction_logs=timedelta(seconds=margin),
            dangling_attributes=timedelta(seconds=margin),
            enabled=True,
        ),
    )


def set_policy(service: ArraylakeService, rid: str, config: OptimizationConfig) -> None:
    """Give the repo its own policy, as the API does (straight in its catalog row)."""

    async def write(conn: AsyncConnection) -> None:
        await conn.execute(
            update(repos).where(repos.c.id == rid).values(optimization_config=config.model_dump(mode="json"))
        )

    in_catalog(service, write)


def runs_of(service: ArraylakeService, rid: str) -> list[Any]:
    async def read(conn: AsyncConnection) -> list[Any]:
        query = (
            select(maintenance_runs)
            .where(maintenance_runs.c.repo_id == rid)
            .order_by(maintenance_runs.c.requested_at)
        )
        return list((await conn.execute(query)).all())

    return in_catalog(service, read)


async def request_now(service: ArraylakeService, conn: AsyncConnection, rid: str) -> str:
    """Queue a requested (not dry) run of the repo with its effective policy, as the API does."""
    row = (await conn.execute(select(repos.c.optimization_config).where(repos.c.id == rid))).one()
    policy = effective(row.optimization_config, None, service.settings, utcnow())
    return await runs.request_run(
        conn,
        rid,
        trigger="requested",
        dry_run=False,
        requested_by=None,
        policy=policy.model_dump(mode="json"),
    )


def wait_for_run_id(service: ArraylakeService, rid: str, run_id: str) -> Any:
    wait_until(
        lambda: any(r.id == run_id and r.state in ("succeeded", "failed") for r in runs_of(service, rid)),
        RUN_TIMEOUT,
        "the requested maintenance run to end",
        interval=0.5,
    )
    (run,) = [r for r in runs_of(service, rid) if r.id == run_id]
    assert run.state == "succeeded", run.error
    return run


def repo_row(service: ArraylakeService, rid: str) -> Any:
    async def read(conn: AsyncConnection) -> Any:
        return (await conn.execute(select(repos).where(repos.c.id == rid))).one()

    return in_catalog(service, read)


def audit_of(service: ArraylakeService, run_id: str) -> list[Any]:
    """The audit entries about a run, in order."""

    async def read(conn: AsyncConnection) -> list[Any]:
        rows = (
            await conn.execute(
                select(audit_log).where(audit_log.c.action.like("maintenance.%")).order_by(audit_log.c.seq)
            )
        ).all()
        return [row for row in rows if row.details.get("run_id") == run_id]

    return in_catalog(service, read)


def wait_for_run(service: ArraylakeService, rid: str, state: str = "succeeded") -> Any:
    wait_until(
        lambda: any(run.state == state for run in runs_of(service, rid)),
        RUN_TIMEOUT,
        f"a maintenance run to reach {state}",
        interval=0.5,
    )
    (run,) = [run for run in runs_of(service, rid) if run.state == state]
    return run


SIZE, CHUNK = 4096, 1024  # chunks large (and random) enough to be objects of their own, not inlined


def data(value: float) -> np.ndarray:
    return value + np.random.default_rng(int(value * 10)).random(SIZE)


def write(repo: icechunk.Repository, branch: str, value: float, array: str = "x") -> str:
    session = repo.writable_session(branch)
    group = zarr.group(session.store)
    group.require_array(array, shape=(SIZE,), chunks=(CHUNK,), dtype="f8")[:] = data(value)
    return session.commit(f"{array} = {value}")


def read(repo: icechunk.Repository, array: str = "x", **ref: str) -> list[float]:
    store = repo.readonly_session(**ref).store
    return list(zarr.open_group(store, mode="r")[array][:])


def make_history(client: Client, name: str) -> icechunk.Repository:
    """main: 1.0, 2.0 (tag v2), 2.5, 3.0 (branch dev), 4.0: expiration removes 1.0 and 2.5."""
    repo = client.create_repo(name)
    write(repo, "main", 1.0)
    repo.create_tag("v2", write(repo, "main", 2.0))
    write(repo, "main", 2.5)
    repo.create_branch("dev", write(repo, "main", 3.0))
    write(repo, "main", 4.0)
    return repo


def refs_data(repo: icechunk.Repository) -> dict[str, list[float]]:
    return {
        "main": read(repo, branch="main"),
        "dev": read(repo, branch="dev"),
        "v2": read(repo, tag="v2"),
    }


def s3_org(service: ArraylakeService, seaweed: SeaweedFS, bucket: str) -> tuple[Org, Client]:
    org = service.new_org("mnt", local_bucket=False)
    client = Client(org.url, token=org.token)
    client.create_bucket_config(org=org.name, nickname="seaweed", **seaweed.bucket_config(bucket))
    client.set_default_bucket_config(org=org.name, nickname="seaweed")
    return org, client


@pytest.fixture(scope="module")
def maintained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ArraylakeService]:
    """A service whose runs wait at the hold point while a test holds it."""
    service = make_service(tmp_path_factory.mktemp("maintenance"), "sqlite", request, {**ENV, **HELD})
    service.start()
    yield service
    service.stop()


@pytest.fixture
def s3(maintained: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str) -> tuple[Org, Client]:
    return s3_org(maintained, seaweed, s3_bucket)


@pytest.fixture
def held(maintained: ArraylakeService) -> Iterator[Path]:
    """While this fixture's file exists, the runs of ``maintained`` wait before their first phase."""
    hold = faults.hold_file(maintained.settings, faults.MAINTENANCE_HELD)
    hold.parent.mkdir(parents=True, exist_ok=True)
    hold.touch()
    yield hold
    hold.unlink(missing_ok=True)


# -------------------------------------------------------------------------------------------------- tests


def test_a_scheduled_run_expires_and_collects_once_in_its_window(
    maintained: ArraylakeService, s3: tuple[Org, Client], seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, client = s3
    name = f"{org.name}/history"
    repo = make_history(client, name)
    before = refs_data(repo)
    prefix = client.get_repo_object(name).prefix
    keys_before = set(seaweed.keys(s3_bucket, prefix + "/"))
    rid = repo_id(maintained, org.name, "history")

    set_policy(maintained, rid, policy(margin=0))
    run = wait_for_run(maintained, rid)

    assert (run.trigger, run.dry_run, run.attempts, run.phase, run.error) == (
        "scheduled",
        False,
        1,
        "measure",
        None,
    )
    report = MaintenanceReport.model_validate(run.report)
    assert report.expired_snapshots == 2
    expired = {ref.ref: [s.message for s in ref.expired] for ref in report.refs}
    assert expired["main"] == ["x = 2.5", "x = 1.0"]
    assert report.reclaimed is not None
    reclaimed = report.reclaimed
    if reclaimed.chunks == 0:
        # Seen once under a loaded machine: the run's GC, right after its expiration, found nothing to
        # collect. What expiration left behind must then go at the next run (asked for here).
        again = in_catalog(maintained, lambda conn: request_now(maintained, conn, rid))
        reclaimed = MaintenanceReport.model_validate(wait_for_run_id(maintained, rid, again).report).reclaimed
        assert reclaimed is not None
    assert reclaimed.chunks >= 8 and reclaimed.bytes > 0
    assert report.size_bytes and report.size_bytes > 0
    keys_after = set(seaweed.keys(s3_bucket, prefix + "/"))
    gone = keys_before - keys_after
    assert len(gone) == reclaimed.objects + (
        report.reclaimed.objects if reclaimed is not report.reclaimed else 0
    )
    assert sum(1 for key in gone if "/chunks/" in key) >= reclaimed.chunks
    # every branch tip and tag reads back as before; history is shorter
    fresh = client.get_repo(name)
    assert refs_data(fresh) == before
    # (Icechunk re-parents the oldest kept snapshot onto the root: 2.0 stays, as v2's tip only)
    main_history = [s.message for s in fresh.ancestry(branch="main")]
    assert main_history == ["x = 4.0", "x = 3.0", "Repository initialized"]
    row = repo_row(maintained, rid)
    assert row.status_mode == "online" and row.size_bytes == report.size_bytes and row.size_measured_at
    # the audit log has the request, the start and the end, by the service
    entries = audit_of(maintained, run.id)
    assert [e.action for e in entries] == [
        "maintenance.run_requested",
        "maintenance.run_started",
        "maintenance.run_finished",
    ]
    assert {e.actor for e in entries} == {"arraylake-service"} and {e.repo for e in entries} == {"history"}
    assert entries[-1].details["state"] == "succeeded"
    assert entries[-1].details["objects"] == report.reclaimed.objects
    assert entries[-1].details["expired_snapshots"] == 2
    # not again in the same window
    time.sleep(3)
    assert [r.trigger for r in runs_of(maintained, rid)].count("scheduled") == 1


def test_writers_working_during_a_run_lose_nothing(
    maintained: ArraylakeService, s3: tuple[Org, Client], held: Path
) -> None:
    org, client = s3
    name = f"{org.name}/busy"
    margin = 12.0
    repo = make_history(client, name)
    history_written = time.monotonic()
    before = refs_data(repo)
    rid = repo_id(maintained, org.name, "busy")
    writer = client.get_repo(name).writable_session("main")  # a writer that started before the run
    set_policy(maintained, rid, policy(margin))
    run = wait_for_run(maintained, rid, "running")

    # during the run: status maintenance with an estimated end; reads and commits work
    status = client.get_repo_object(name).status
    assert status.mode == "maintenance", status
    assert status.estimated_end_time is not None and status.estimated_end_time > utcnow()
    assert status.message and "reads and writes keep working" in status.message
    assert status.initiated_by.get("maintenance_run") == run.id
    assert runs_of(maintained, rid)[0].estimated_end is not None
    with pytest.warns(UserWarning, match="maintenance"):
        during = client.get_repo(name)
    assert read(during, branch="main") == before["main"]
    write(during, "dev", 7.0)
    # the old history is older than the margin by the time GC runs; the writer's chunks are not
    time.sleep(max(0.0, history_written + margin + 1 - time.monotonic()))
    zarr.group(writer.store).require_array("w", shape=(SIZE,), chunks=(CHUNK,), dtype="f8")[:] = data(9.0)
    held.unlink()  # the run goes on
    run = wait_for_run(maintained, rid)

    report = MaintenanceReport.model_validate(run.report)
    assert report.expired_snapshots >= 2
    assert report.reclaimed is not None and report.reclaimed.chunks >= 8  # the old history's chunks went
    assert client.get_repo_object(name).status.mode == "online"
    writer.commit("written across the run")
    after = client.get_repo(name)
    assert read(after, "w", branch="main") == list(data(9.0))
    assert read(after, branch="main") == before["main"]
    assert read(after, tag="v2") == before["v2"]
    assert read(after, branch="dev") == list(data(7.0))  # the commit made during the run
    # expiration ran after that commit: 3.0, no longer a tip, left dev's history
    assert [s.message for s in after.ancestry(branch="dev")] == ["x = 7.0", "Repository initialized"]


def test_a_dry_run_deletes_nothing_and_reports_what_would_expire(
    maintained: ArraylakeService, s3: tuple[Org, Client], seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, client = s3
    name = f"{org.name}/preview"
    repo = make_history(client, name)
    prefix = client.get_repo_object(name).prefix
    keys_before = sorted(seaweed.keys(s3_bucket, prefix + "/"))
    length_before = len(list(repo.ancestry(branch="main")))
    rid = repo_id(maintained, org.name, "preview")
    applied = effective(policy(margin=0).model_dump(mode="json"), None, maintained.settings, utcnow())

    async def request(conn: AsyncConnection) -> str:
        return await runs.request_run(
            conn,
            rid,
            trigger="requested",
            dry_run=True,
            requested_by=None,
            policy=applied.model_dump(mode="json"),
        )

    in_catalog(maintained, request)
    run = wait_for_run(maintained, rid)

    report = MaintenanceReport.model_validate(run.report)
    assert report.dry_run and run.dry_run
    assert report.expired_snapshots == 2
    expired = {ref.ref: [s.message for s in ref.expired] for ref in report.refs}
    assert expired["main"] == ["x = 2.5", "x = 1.0"] and expired["v2"] == ["x = 1.0"]
    assert sorted(seaweed.keys(s3_bucket, prefix + "/")) == keys_before
    assert len(list(client.get_repo(name).ancestry(branch="main"))) == length_before
    assert run.previous_status is None and client.get_repo_object(name).status.mode == "online"


def test_the_scheduler_purges_a_soft_deleted_repo_after_its_grace(
    maintained: ArraylakeService, s3: tuple[Org, Client], seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org, client = s3
    name = f"{org.name}/doomed"
    write(client.create_repo(name), "main", 1.0)
    prefix = client.get_repo_object(name).prefix
    assert seaweed.keys(s3_bucket, prefix + "/")
    client.delete_repo(name, imsure=True, imreallysure=True, immediate=False)
    wait_until(lambda: not seaweed.keys(s3_bucket, prefix + "/"), 60, "the repo's data to be purged")
    wait_until(lambda: not client.list_repos(org.name, include_deleted=True), 10, "the repo's row to go")


def test_a_killed_workers_run_is_finished_by_another(
    maintained: ArraylakeService, s3: tuple[Org, Client], held: Path, tmp_path: Path
) -> None:
    org, client = s3
    # keep the first worker busy (it does one run at a time), so that the second one takes the next run
    write(client.create_repo(f"{org.name}/decoy"), "main", 1.0)
    set_policy(maintained, repo_id(maintained, org.name, "decoy"), policy(margin=0))
    wait_for_run(maintained, repo_id(maintained, org.name, "decoy"), "running")
    doomed = ArraylakeService(
        tmp_path,
        maintained.database_url,
        env={**ENV, "ARRAYLAKE_SERVER_FAULT_INJECTION": faults.MAINTENANCE_AFTER_EXPIRE},
    )
    doomed.data_dir = maintained.data_dir  # a second process on the same catalog (and keys)
    doomed.env["ARRAYLAKE_SERVER_DATA_DIR"] = str(maintained.data_dir)
    name = f"{org.name}/resumed"
    repo = make_history(client, name)
    before = refs_data(repo)
    rid = repo_id(maintained, org.name, "resumed")
    doomed.start()
    try:
        set_policy(maintained, rid, policy(margin=0))
        assert doomed.process is not None
        assert doomed.process.wait_exit(RUN_TIMEOUT) == 70  # died right after expiring
    finally:
        doomed.stop()
    (dead,) = runs_of(maintained, rid)
    assert (dead.state, dead.phase, dead.attempts) == ("running", "expire", 1)
    assert repo_row(maintained, rid).status_mode == "maintenance"

    held.unlink()  # the first worker finishes its run, then takes over the dead one once its lease lapses
    run = wait_for_run(maintained, rid)

    assert (run.id, run.phase, run.attempts, run.error) == (dead.id, "measure", 2, None)
    assert run.lease_owner != dead.lease_owner
    report = MaintenanceReport.model_validate(run.report)
    assert report.expired_snapshots == 2  # done by the first worker, kept in the report
    assert report.reclaimed is not None and report.reclaimed.chunks >= 8  # done by the second
    assert report.size_bytes
    assert repo_row(maintained, rid).status_mode == "online"
    assert refs_data(client.get_repo(name)) == before
    actions = [e.action for e in audit_of(maintained, run.id)]
    assert actions.count("maintenance.run_started") == 2 and actions[-1] == "maintenance.run_finished"
    assert len(runs_of(maintained, rid)) == 1
