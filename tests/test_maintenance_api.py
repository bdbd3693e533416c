"""The maintenance API against a live service (SQLite and PostgreSQL catalogs): a repo's and an org's policy,
where each part comes from, who may change it, run requests, the history of runs, and their audit entries."""

from __future__ import annotations

import asyncio
import time as time_module
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake import Client
from arraylake.client.maintenance import parse_window
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import audit_log, maintenance_runs, repos
from arraylake.types import OrgRole, RepoActions
from arraylake.types.maintenance import (
    ExpirationConfig,
    GCConfig,
    MaintenanceRun,
    OptimizationConfig,
    OptimizationWindow,
    RepoMaintenance,
)
from tests.support.service import ArraylakeService, Org

DAY = 86400.0


def on_catalog(service: ArraylakeService, work: Callable[[AsyncConnection], Awaitable[Any]]) -> Any:
    """Run ``work(conn)`` in a transaction on the service's catalog database."""

    async def go() -> Any:
        engine = make_engine(service.settings.resolved_database_url)
        try:
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def audit_entries(service: ArraylakeService, org: str, action: str) -> list[Any]:
    async def read(conn: AsyncConnection) -> list[Any]:
        query = select(audit_log).where(audit_log.c.org == org, audit_log.c.action == action)
        return list((await conn.execute(query.order_by(audit_log.c.seq))).all())

    return on_catalog(service, read)  # type: ignore[no-any-return]


class Api:
    """Raw requests to the service with one token."""

    def __init__(self, service: ArraylakeService, token: str):
        self.http = httpx.Client(
            base_url=service.url, headers={"authorization": f"Bearer {token}"}, timeout=60
        )

    def __call__(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.http.request(method, path, json=body, params=params or None)


@pytest.fixture(scope="module")
def world(service: ArraylakeService) -> dict[str, Any]:
    """An org with an admin, a repo writer, a repo reader and a plain member, and an outsider's org."""
    org = service.new_org("maint")
    admin = Client(service.url, token=org.token)
    tokens = {"admin": org.token}
    for role in (OrgRole.REPO_WRITER, OrgRole.REPO_READER, OrgRole.MEMBER):
        made = admin.create_api_client(org.name, f"{role.value} bot", role=role)
        tokens[role.value] = made.token.token.get_secret_value()
    tokens["outsider"] = service.new_org("maint-out").token
    return {"org": org, "admin": admin, "tokens": tokens}


def new_repo(world: dict[str, Any], prefix: str = "r") -> str:
    name = f"{world['org'].name}/{prefix}-{uuid.uuid4().hex[:6]}"
    world["admin"].create_repo(name, checkout=False)
    return name


def api(service: ArraylakeService, world: dict[str, Any], who: str = "admin") -> Api:
    return Api(service, world["tokens"][who])


def test_policy_round_trip_and_where_each_part_comes_from(
    service: ArraylakeService, world: dict[str, Any]
) -> None:
    admin: Client = world["admin"]
    org: Org = world["org"]
    name = new_repo(world)

    fresh = admin.get_maintenance(name)
    assert fresh.config == OptimizationConfig()
    assert (fresh.effective.window_source, fresh.effective.expiration_source, fresh.effective.gc_source) == (
        "service",
        "service",
        "service",
    )
    assert fresh.effective.window == parse_window("sun 02:00 6h")  # the service's default
    assert fresh.effective.next_window_start is None  # nothing enabled: nothing scheduled
    assert fresh.last_run is None and fresh.size_bytes is None

    # The org's default fills the parts the repo leaves unset.
    org_policy = admin.set_org_maintenance(
        org.name, window="mon 03:00 2h", gc=True, gc_margin=timedelta(days=2)
    )
    assert org_policy.window == parse_window("mon 03:00 2h") and org_policy.gc_config is not None
    assert org_policy.gc_config.enabled and org_policy.gc_config.margins() == [timedelta(days=2)] * 5
    assert admin.get_org_maintenance(org.name) == org_policy
    inherited = admin.get_maintenance(name).effective
    assert (inherited.window_source, inherited.gc_source, inherited.expiration_source) == (
        "org",
        "org",
        "service",
    )
    assert inherited.gc_margin == timedelta(days=2)
    assert inherited.next_window_start is not None and inherited.next_window_start.weekday() == 0
    assert inherited.next_window_start.time() == time(3, 0) and inherited.next_window_start > datetime.now(
        UTC
    )

    # The repo's own parts win, part by part; unspecified arguments keep their value.
    own = admin.set_maintenance(name, expire_older_than=timedelta(days=30))
    assert own.config.expiration_config == ExpirationConfig(
        expire_versions_older_than=timedelta(days=30), enabled=True
    )
    assert own.config.window is None and own.config.gc_config is None
    assert (own.effective.expiration_source, own.effective.window_source) == ("repo", "org")
    own = admin.set_maintenance(name, window="sat 01:30 90m", extra_roots=["0" * 20])
    assert own.effective.window == OptimizationWindow(
        duration=timedelta(minutes=90), start_time=time(1, 30), day_of_week=5
    )
    assert own.config.expiration_config is not None and own.config.expiration_config.enabled  # kept
    # GC got its own part, starting from the org's (on, 2 days) with the root added.
    assert own.config.gc_config is not None and own.config.gc_config.extra_gc_roots == {"0" * 20}
    assert own.config.gc_config.enabled and own.effective.gc_margin == timedelta(days=2)
    assert (own.effective.window_source, own.effective.gc_source) == ("repo", "repo")
    assert admin.get_repo_object(name).optimization_config == own.config

    # The wire body is the hosted dialect: durations in seconds.
    raw = api(service, world)("GET", f"/orgs/{name}/maintenance").json()
    assert raw["config"]["expiration_config"]["expire_versions_older_than"] == 30 * DAY
    assert raw["config"]["window"] == {"duration": 5400.0, "start_time": "01:30:00", "day_of_week": 5}

    # One part back to the org's, then everything.
    back = admin.set_maintenance(name, window=None)
    assert back.effective.window_source == "org" and back.config.expiration_config is not None
    reset = admin.set_maintenance(name, reset=True)
    assert reset.config == OptimizationConfig() and reset.effective.gc_source == "org"
    assert admin.set_org_maintenance(org.name, reset=True) == OptimizationConfig()
    assert admin.get_maintenance(name).effective.gc_source == "service"


def test_put_replaces_the_whole_policy(service: ArraylakeService, world: dict[str, Any]) -> None:
    name = new_repo(world)
    body = {
        "window": {"duration": 3600, "start_time": "22:00:00", "day_of_week": 2},
        "gc_config": {"dangling_chunks": 7200, "dangling_snapshots": 3 * DAY, "enabled": True},
    }
    put = api(service, world)("PUT", f"/orgs/{name}/maintenance", body)
    assert put.status_code == 200, put.text
    found = RepoMaintenance.model_validate(put.json())
    assert found.config.expiration_config is None
    assert found.effective.gc_margin == timedelta(days=3)  # the largest margin given: the safest
    again = api(service, world)("PUT", f"/orgs/{name}/maintenance", {"window": body["window"]})
    assert again.status_code == 200 and again.json()["config"]["gc_config"] is None


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"window": {"duration": 3600, "start_time": "02:00:00", "day_of_week": 9}}, "day_of_week"),
        ({"window": {"duration": 0, "start_time": "02:00:00", "day_of_week": 1}}, "one minute to seven days"),
        ({"window": {"duration": 3600, "start_time": "25:00:00", "day_of_week": 1}}, "start_time"),
        ({"gc_config": {"dangling_chunks": 60, "enabled": True}}, "minimum"),
        ({"gc_config": {"extra_gc_roots": ["not-a-snapshot"]}}, "snapshot id"),
        ({"expiration_config": {"expire_versions_older_than": -5}}, "negative"),
    ],
)
def test_bad_policies_are_refused_and_change_nothing(
    service: ArraylakeService, world: dict[str, Any], body: dict[str, Any], words: str
) -> None:
    name = new_repo(world)
    admin: Client = world["admin"]
    before = admin.set_maintenance(name, expire_older_than=timedelta(days=10))
    refused = api(service, world)("PUT", f"/orgs/{name}/maintenance", body)
    assert refused.status_code == 422, refused.text
    assert words in str(refused.json()["detail"])
    assert admin.get_maintenance(name).config == before.config
    org_refused = api(service, world)("PUT", f"/orgs/{world['org'].name}/optimization", body)
    assert org_refused.status_code == 422 and words in str(org_refused.json()["detail"])
    patched = api(service, world)("PATCH", f"/orgs/{name}", {"description": "x", "optimization_config": body})
    assert patched.status_code == 422
    assert admin.get_repo_object(name).description is None  # all or nothing


def test_client_refuses_bad_arguments_before_asking(world: dict[str, Any]) -> None:
    admin: Client = world["admin"]
    name = new_repo(world)
    with pytest.raises(ValueError, match="not a window"):
        admin.set_maintenance(name, window="someday 2pm")
    with pytest.raises(ValueError, match="needs an age"):
        admin.set_maintenance(name, expiration=True)
    assert admin.get_maintenance(name).config == OptimizationConfig()


def test_who_may_see_and_change_what(service: ArraylakeService, world: dict[str, Any]) -> None:
    name = new_repo(world)
    org = world["org"].name
    policy = {"expiration_config": {"expire_versions_older_than": 30 * DAY, "enabled": True}}
    writer, reader = api(service, world, "repo_writer"), api(service, world, "repo_reader")
    member, outsider = api(service, world, "member"), api(service, world, "outsider")

    for who in (writer, reader):
        assert who("GET", f"/orgs/{name}/maintenance").status_code == 200
        assert who("GET", f"/orgs/{name}/maintenance/runs").status_code == 200
        assert who("GET", f"/orgs/{org}/optimization").status_code == 200
        refused = who("PUT", f"/orgs/{name}/maintenance", policy)
        assert refused.status_code == 403, refused.text
        assert who("PUT", f"/orgs/{org}/optimization", policy).status_code == 403
        assert who("POST", f"/orgs/{name}/maintenance/runs", {"dry_run": False}).status_code == 403
    assert reader("POST", f"/orgs/{name}/maintenance/runs", {"dry_run": True}).status_code == 403
    assert "manage" in writer("POST", f"/orgs/{name}/maintenance/runs", {}).json()["detail"]

    # A member without a grant on the repo may not learn that it exists; the org's default it may read.
    assert member("GET", f"/orgs/{name}/maintenance").status_code in (403, 404)
    assert member("GET", f"/orgs/{org}/optimization").status_code == 200
    assert member("PUT", f"/orgs/{org}/optimization", policy).status_code == 403
    # Outside the org, nothing of it exists.
    for method, path in (
        ("GET", f"/orgs/{name}/maintenance"),
        ("PUT", f"/orgs/{name}/maintenance"),
        ("GET", f"/orgs/{org}/optimization"),
        ("PUT", f"/orgs/{org}/optimization"),
        ("POST", f"/orgs/{name}/maintenance/runs"),
    ):
        assert outsider(method, path, policy if method == "PUT" else {}).status_code == 404, (method, path)
    assert world["admin"].get_maintenance(name).config == OptimizationConfig()  # nothing changed
    assert world["admin"].get_org_maintenance(org) == OptimizationConfig()
    # A repo that does not exist is a 404 for those who may see the org's repos.
    assert (
        api(service, world)("GET", f"/orgs/{org}/nope-{uuid.uuid4().hex[:6]}/maintenance").status_code == 404
    )


def test_patch_with_optimization_config(service: ArraylakeService, world: dict[str, Any]) -> None:
    """The hosted 1.7.0 client's way: ``modify_repo(name, optimization_config=...)``."""
    name = new_repo(world)
    admin: Client = world["admin"]
    config = OptimizationConfig(
        window=OptimizationWindow(duration=timedelta(hours=4), start_time=time(5), day_of_week=3),
        gc_config=GCConfig(dangling_chunks=timedelta(days=1), enabled=True),
    )
    changed = admin.modify_repo(name, description="kept tidy", optimization_config=config)
    assert changed.optimization_config == config and changed.description == "kept tidy"
    assert admin.get_maintenance(name).config == config
    assert admin.get_maintenance(name).effective.gc_source == "repo"

    writer = api(service, world, "repo_writer")
    body = {"optimization_config": {"window": None}}
    refused = writer("PATCH", f"/orgs/{name}", {"description": "mine", **body})
    assert refused.status_code == 403 and "manage" in refused.json()["detail"]
    assert admin.get_repo_object(name).description == "kept tidy"
    assert writer("PATCH", f"/orgs/{name}", {"description": "writers may"}).status_code == 200
    assert admin.get_maintenance(name).config == config  # a PATCH without the key leaves the policy

    cleared = api(service, world)("PATCH", f"/orgs/{name}", {"optimization_config": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["optimization_config"] == {
        "window": None,
        "gc_config": None,
        "expiration_config": None,
    }


def test_v1_repos_have_no_maintenance(service: ArraylakeService, world: dict[str, Any]) -> None:
    name = f"{world['org'].name}/legacy-{uuid.uuid4().hex[:6]}"
    world["admin"].create_repo(name, kind="v1")
    policy = {"expiration_config": {"expire_versions_older_than": DAY, "enabled": True}}
    refused = api(service, world)("PUT", f"/orgs/{name}/maintenance", policy)
    assert refused.status_code == 409 and "Icechunk" in refused.json()["detail"]
    ran = api(service, world)("POST", f"/orgs/{name}/maintenance/runs", {"dry_run": True})
    assert ran.status_code == 409 and "Icechunk" in ran.json()["detail"]


def test_run_requests_history_and_audit(service: ArraylakeService, world: dict[str, Any]) -> None:
    name = new_repo(world)
    org = world["org"].name
    repo = name.split("/")[1]
    admin: Client = world["admin"]
    admin.set_maintenance(name, expire_older_than=timedelta(days=30), gc=True, gc_margin=timedelta(days=1))

    writer = api(service, world, "repo_writer")
    asked = writer("POST", f"/orgs/{name}/maintenance/runs", {"dry_run": True})
    assert asked.status_code == 202, asked.text
    run = MaintenanceRun.model_validate(asked.json())
    assert (run.org, run.repo, run.trigger, run.dry_run) == (org, repo, "requested", True)
    assert run.state == "queued" and run.requested_by is not None and run.report is None

    # One run at a time: a second request conflicts while the first is queued or running.
    second = api(service, world)("POST", f"/orgs/{name}/maintenance/runs", {"dry_run": False})
    first_now = admin.get_maintenance_run(name, run.id)
    if second.status_code == 409:
        assert "already queued or running" in second.json()["detail"]
    else:  # the scheduler had finished the first one already
        assert second.status_code == 202 and first_now.state in ("succeeded", "failed")
    assert admin.get_maintenance(name).last_run is not None

    stored = on_catalog(
        service,
        lambda conn: conn.execute(select(maintenance_runs.c.policy).where(maintenance_runs.c.id == run.id)),
    ).one()
    assert stored.policy["expiration"]["expire_versions_older_than"] == 30 * DAY
    assert stored.policy["gc_margin"] == DAY

    missing = api(service, world)("GET", f"/orgs/{name}/maintenance/runs/{uuid.uuid4()}")
    assert missing.status_code == 404

    # History: newest first, a page at a time.
    async def add_finished(conn: AsyncConnection) -> list[str]:
        repo_id = (
            await conn.execute(select(repos.c.id).where(repos.c.name == repo, repos.c.live_name == repo))
        ).scalar_one()
        ids = []
        for days_ago in (3, 2, 1):
            run_id = str(uuid.uuid4())
            at = datetime.now(UTC) - timedelta(days=days_ago)
            await conn.execute(
                maintenance_runs.insert().values(
                    id=run_id,
                    repo_id=repo_id,
                    trigger="scheduled",
                    dry_run=False,
                    state="succeeded",
                    requested_at=at,
                    started_at=at,
                    finished_at=at + timedelta(minutes=5),
                    attempts=1,
                    policy={},
                    report={"dry_run": False, "expired_snapshots": days_ago},
                )
            )
            ids.append(run_id)
        return ids

    older = on_catalog(service, add_finished)
    page = api(service, world, "repo_reader")("GET", f"/orgs/{name}/maintenance/runs", limit=2).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = api(service, world)("GET", f"/orgs/{name}/maintenance/runs", limit=10, cursor=page["next_cursor"])
    listed = [r["id"] for r in page["items"] + rest.json()["items"]]
    assert listed[-3:] == older[::-1] and rest.json()["next_cursor"] is None
    assert len(listed) == len(set(listed)) == 3 + (2 if second.status_code == 202 else 1)
    assert [r.id for r in admin.list_maintenance_runs(name, limit=3)] == listed[:3]
    assert api(service, world)("GET", f"/orgs/{name}/maintenance/runs", cursor="garbage").status_code == 422
    assert api(service, world)("GET", f"/orgs/{name}/maintenance/runs", limit=0).status_code == 422

    # Audit: the policy change and the run request, in the catalog's log.
    changes = [e for e in audit_entries(service, org, "repo.maintenance_policy") if e.repo == repo]
    assert changes and changes[-1].actor == "admin@example.com"
    assert changes[-1].details["expiration"] == {"enabled": True, "older_than_seconds": 30 * 86400}
    assert changes[-1].details["gc"]["margin_seconds"] == 86400
    requests = [e for e in audit_entries(service, org, "maintenance.run_requested") if e.repo == repo]
    assert requests[0].target == run.id and requests[0].details["dry_run"] is True
    assert requests[0].outcome == "ok"


def test_org_policy_changes_are_audited(service: ArraylakeService, world: dict[str, Any]) -> None:
    org = world["org"].name
    admin: Client = world["admin"]
    before = len(audit_entries(service, org, "org.maintenance_policy"))
    admin.set_org_maintenance(org, window="fri 23:00 3h")
    entries = audit_entries(service, org, "org.maintenance_policy")
    assert len(entries) == before + 1 and entries[-1].details["window"] == "fri 23:00 3h"
    refused = api(service, world)("PUT", f"/orgs/{org}/optimization", {"gc_config": {"dangling_chunks": 1}})
    assert refused.status_code == 422
    assert len(audit_entries(service, org, "org.maintenance_policy")) == before + 1  # nothing for a refusal
    admin.set_org_maintenance(org, reset=True)


def test_opening_a_repo_under_scheduled_maintenance_says_it_keeps_working(
    service: ArraylakeService, world: dict[str, Any]
) -> None:
    name = new_repo(world)
    repo = name.split("/")[1]
    end = datetime.now(UTC) + timedelta(minutes=20)

    async def in_maintenance(conn: AsyncConnection) -> None:
        await conn.execute(
            repos.update()
            .where(repos.c.name == repo, repos.c.live_name == repo)
            .values(
                status_mode="maintenance",
                status_message="expiring snapshots",
                status_initiated_by={"maintenance_run": str(uuid.uuid4())},
                status_estimated_end_time=end,
            )
        )

    on_catalog(service, in_maintenance)
    time_module.sleep(service.settings.catalog_cache_seconds + 0.5)  # the service's repo cache lapses
    with pytest.warns(UserWarning) as caught:
        world["admin"].get_repo(name)
    messages = [str(w.message) for w in caught]
    assert any(
        f"scheduled maintenance of repo {name} is under way until {end.isoformat()}: expiring snapshots; "
        "reads and writes keep working" == m
        for m in messages
    ), messages
    assert not any("read-only" in m for m in messages)


def test_a_manager_grantee_may_run_without_write(service: ArraylakeService, world: dict[str, Any]) -> None:
    """A grant of CAN_MANAGE_USERS alone (no write) is enough to run maintenance, dry or real."""
    name = new_repo(world)
    org = world["org"].name
    made = world["admin"].create_api_client(org, "manager bot", role=OrgRole.MEMBER)
    world["admin"].grant_repo_access(name, str(made.client.id), [RepoActions.CAN_MANAGE_USERS])
    manager = Api(service, made.token.token.get_secret_value())
    assert manager("PUT", f"/orgs/{name}/maintenance", {"gc_config": {"enabled": True}}).status_code == 200
    dry = manager("POST", f"/orgs/{name}/maintenance/runs", {"dry_run": True})
    assert dry.status_code == 202, dry.text
    deadline = time_module.monotonic() + 120
    while world["admin"].get_maintenance_run(name, dry.json()["id"]).state not in ("succeeded", "failed"):
        assert time_module.monotonic() < deadline, "the dry run never ended"
        time_module.sleep(0.5)
    real = manager("POST", f"/orgs/{name}/maintenance/runs", {"dry_run": False})
    assert real.status_code == 202, real.text
    assert real.json()["dry_run"] is False and real.json()["trigger"] == "requested"
