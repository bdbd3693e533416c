"""The maintenance pages: a repo's policy (what applies and from where, the form its managers use), runs
asked for on the page and their history and reports, and the org's default policy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import zarr
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, expect

from arraylake import Client
from tests.support.service import ArraylakeService, Org
from tests.support.web import (
    SampleRepo,
    WebUser,
    browser_sign_in,
    screenshot,
    watch,
    web_user,
    write_sample_repo,
)

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
POLICY = {
    "window_own": "true",
    "window_day": "6",
    "window_start": "03:00",
    "window_duration": "2h",
    "expiration_own": "true",
    "expiration_enabled": "true",
    "expire_days": "30",
    "gc_own": "true",
    "gc_enabled": "true",
    "gc_margin": "2",
    "gc_margin_unit": "days",
}


@dataclass
class World:
    org: Org
    sample: SampleRepo
    people: dict[str, WebUser]

    @property
    def page(self) -> str:
        return f"{self.sample.path}/maintenance"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.org.token}"}
        return httpx.request(method, self.org.url + path, headers=headers, timeout=60, **kwargs)

    def maintenance(self) -> dict[str, Any]:
        response = self.api("GET", f"/orgs/{self.org.name}/{self.sample.name}/maintenance")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def runs(self) -> list[dict[str, Any]]:
        response = self.api("GET", f"/orgs/{self.org.name}/{self.sample.name}/maintenance/runs")
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def world(service: ArraylakeService) -> Iterator[World]:
    org = service.new_org("upkeep")
    sample = write_sample_repo(org)
    add_commits(org, sample, 2)
    roles = {"admin": "admin", "writer": "repo_writer", "reader": "repo_reader", "member": "member"}
    people = {person: web_user(service, org.name, role, person) for person, role in roles.items()}
    yield World(org, sample, people)
    for person in people.values():
        person.close()


def add_commits(org: Org, sample: SampleRepo, count: int) -> None:
    """Commits on ``main`` after the sample's: the sample's own snapshots are all tips, tags or the root,
    which expiration keeps; these leave some it may expire."""
    repo = Client(service_uri=org.url, token=org.token).get_repo(f"{org.name}/{sample.name}")
    for number in range(count):
        session = repo.writable_session("main")
        zarr.open_group(session.store, path="weather").attrs["revision"] = number
        session.commit(f"Revision {number}")


def follow(user: WebUser, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, response.text
    return user.get(response.headers["location"])


def test_a_manager_sets_the_repo_policy_and_resets_it(world: World) -> None:
    admin = world.people["admin"]
    page = admin.get(world.page)
    assert page.status_code == 200
    assert 'id="effective-policy"' in page.text and 'id="policy-form"' in page.text
    assert page.text.count('data-source="service"') == 3  # nothing set by the repo or the org yet
    assert "none: expiration and GC are off" in page.text
    assert 'aria-current="page">Maintenance</a>' in page.text  # its tab

    root = world.sample.snapshots[0]
    saved = admin.post(world.page, {**POLICY, "extra_roots": f"{root}\n"})
    assert saved.headers["location"] == world.page
    page = follow(admin, saved)
    assert f"Saved the maintenance policy of {world.org.name}/{world.sample.name}." in page.text
    assert page.text.count('data-source="repo"') == 3
    assert "Sundays at 03:00 UTC, for 2 hours" in page.text
    assert "snapshots older than 30 days leave the history" in page.text
    assert "unreachable objects older than 2 days are deleted" in page.text
    assert root in page.text and 'id="next-window"' in page.text

    config = world.maintenance()["config"]
    assert config["window"] == {"duration": 7200.0, "start_time": "03:00:00", "day_of_week": 6}
    assert config["expiration_config"]["enabled"] is True
    assert config["expiration_config"]["expire_versions_older_than"] == 30 * 86400
    assert config["gc_config"]["enabled"] is True and config["gc_config"]["dangling_chunks"] == 2 * 86400
    assert config["gc_config"]["extra_gc_roots"] == [root]

    # a part left unticked falls back: here the window
    follow(admin, admin.post(world.page, {**POLICY, "window_own": ""}))
    config = world.maintenance()["config"]
    assert config["window"] is None and config["gc_config"]["extra_gc_roots"] == []

    reset = admin.post(f"{world.page}/reset")
    assert "now follows the org default for every part" in follow(admin, reset).text
    assert world.maintenance()["config"] == {"window": None, "gc_config": None, "expiration_config": None}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"gc_margin": "0.5", "gc_margin_unit": "hours"}, "minimum of 1:00:00"),
        (
            {"window_duration": "8d"},
            "window duration: a maintenance window lasts from one minute to seven days",
        ),
        ({"window_duration": "soon"}, "window duration: give minutes, hours or days"),
        ({"window_start": "25:00"}, "window start"),
        ({"window_day": "9"}, "window day"),
        ({"expire_days": "-3"}, "above zero"),
        ({"extra_roots": "not-a-snapshot"}, "is not an Icechunk snapshot id"),
    ],
)
def test_bad_policy_input_says_why_and_changes_nothing(
    world: World, change: dict[str, str], words: str
) -> None:
    before = world.maintenance()["config"]
    refused = world.people["admin"].post(world.page, {**POLICY, **change})
    assert refused.status_code == 422 and words in refused.text, refused.text
    assert world.maintenance()["config"] == before


def test_readers_see_the_policy_and_may_not_change_it(world: World) -> None:
    reader = world.people["reader"]
    page = reader.get(world.page)
    assert page.status_code == 200
    assert 'id="effective-policy"' in page.text and 'id="policy-read-only"' in page.text
    assert 'id="policy-form"' not in page.text and 'id="dry-run"' not in page.text
    before = world.maintenance()["config"]
    assert reader.post(world.page, POLICY).status_code == 403
    assert reader.post(f"{world.page}/dry-run").status_code == 403
    writer = world.people["writer"]
    page = writer.get(world.page)
    assert (
        'id="dry-run"' in page.text
        and 'id="run-now"' not in page.text
        and 'id="policy-form"' not in page.text
    )
    assert writer.post(world.page, POLICY).status_code == 403
    assert writer.post(f"{world.page}/run").status_code == 403
    assert world.people["member"].get(world.page).status_code == 403
    assert world.maintenance()["config"] == before and world.runs() == []

    forged = world.people["admin"].http.post(world.page, data={**POLICY, "csrf": "forged"})
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    assert world.maintenance()["config"] == before


def _finished(world: World, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = next(r for r in world.runs() if r["id"] == run_id)
        if run["state"] in ("succeeded", "failed"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end: {run}")


def test_a_dry_run_from_the_page_shows_in_the_history_with_its_report(world: World) -> None:
    admin, writer = world.people["admin"], world.people["writer"]
    follow(admin, admin.post(world.page, {**POLICY, "expire_days": "0.00001", "gc_margin": "1"}))
    asked = writer.post(f"{world.page}/dry-run")
    page = follow(writer, asked)
    assert "A dry run (nothing is deleted) of" in page.text and "is queued" in page.text
    [run] = world.runs()
    assert run["dry_run"] is True and run["trigger"] == "requested"
    assert f'id="run-{run["id"]}"' in page.text

    again = writer.post(f"{world.page}/dry-run")  # one run at a time, unless the first has already ended
    assert again.status_code in (303, 409), again.text
    run = _finished(world, run["id"])
    assert run["state"] == "succeeded", run
    history = writer.get(world.page)
    row = history.text.split(f'id="run-{run["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "requested" in row and "yes" in row and "succeeded" in row

    detail = writer.get(f"{world.page}/runs/{run['id']}")
    assert detail.status_code == 200
    assert 'id="report-facts"' in detail.text and "yes: nothing is deleted" in detail.text
    report = run["report"]
    assert f'<dd id="report-expired">{report["expired_snapshots"]}</dd>' in detail.text
    assert report["expired_snapshots"] >= 1  # main's older commits: expiration keeps under a second
    for ref in report["refs"]:
        assert f'id="ref-{ref["kind"]}-{ref["ref"]}"' in detail.text
        for snapshot in ref["expired"]:
            assert snapshot["id"] in detail.text and snapshot["message"] in detail.text
    assert world.people["reader"].get(f"{world.page}/runs/{run['id']}").status_code == 200
    missing = writer.get(f"{world.page}/runs/no-such-run")
    assert missing.status_code == 404 and "no maintenance run" in missing.text
    assert writer.get(world.page, params={"cursor": "garbage!"}).status_code == 422


def test_the_org_default_applies_where_the_repo_sets_nothing(world: World) -> None:
    admin, member = world.people["admin"], world.people["member"]
    org_page = f"/app/{world.org.name}/-/maintenance"
    page = admin.get(org_page)
    assert page.status_code == 200 and 'id="policy-form"' in page.text
    assert f'href="{org_page}" aria-current="page"' in page.text  # the side nav marks it

    saved = admin.post(
        org_page,
        {"expiration_own": "true", "expiration_enabled": "true", "expire_days": "10", "window_own": ""},
    )
    page = follow(admin, saved)
    assert f"Saved the default maintenance policy of {world.org.name}." in page.text
    assert "snapshots older than 10 days leave the history" in page.text
    default = world.api("GET", f"/orgs/{world.org.name}/optimization").json()
    assert default["expiration_config"]["expire_versions_older_than"] == 10 * 86400
    assert default["window"] is None and default["gc_config"] is None

    follow(admin, admin.post(f"{world.page}/reset"))
    repo_page = admin.get(world.page)
    effective = repo_page.text.split('id="effective-expiration"', 1)[1].split("</dd>", 1)[0]
    assert "10 days" in effective and 'data-source="org"' in effective

    seen = member.get(org_page)
    assert (
        seen.status_code == 200
        and 'id="policy-read-only"' in seen.text
        and 'id="policy-form"' not in seen.text
    )
    assert member.post(org_page, {"expiration_own": "true", "expire_days": "1"}).status_code == 403
    assert world.api("GET", f"/orgs/{world.org.name}/optimization").json() == default


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_in_chromium_the_pages_pass_axe_and_the_form_saves(world: World, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)  # axe is injected
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = watch(page)
    url = world.org.url
    browser_sign_in(page, world.org.service, world.people["admin"].email)
    axe, problems = Axe(), {}
    audit = f"/app/{world.org.name}/-/audit"
    pages = [
        ("maintenance-repo", world.page),
        ("maintenance-org", f"/app/{world.org.name}/-/maintenance"),
        ("audit-log", audit),
    ]
    pages += [("maintenance-run", f"{world.page}/runs/{run['id']}") for run in world.runs()[:1]]
    for name, path in pages:
        page.goto(url + path)
        if path == audit:  # the chain's status arrives by htmx after the page
            expect(page.locator("#chain-verified")).to_be_visible()
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
        found = [f"{v['id']}: {v['help']} {v['nodes'][0]['target']}" for v in results.response["violations"]]
        if found:
            problems[path] = found
        screenshot(page, name)
    assert not problems, problems

    page.goto(url + world.page)
    page.check("#expiration-own")
    page.check("#expiration-enabled")
    page.fill("#expire-days", "45")
    page.click("#save-policy")
    expect(page.locator("#flash")).to_contain_text("Saved the maintenance policy")
    expect(page.locator("#effective-expiration")).to_contain_text("45 days")
    assert world.maintenance()["config"]["expiration_config"]["expire_versions_older_than"] == 45 * 86400
    context.close()
    assert not errors, errors
