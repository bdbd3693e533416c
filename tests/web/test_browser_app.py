"""The web app in a real headless Chromium (the system's, driven by Playwright), against a running service and
real repos: what a person does, page by page, with a screenshot of each page kept in ``test-artifacts/web/``.

Also checks each page with axe-core (accessibility rules of WCAG 2.1 A and AA) and that the keyboard reaches
the main controls.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from arraylake import Client
from tests.support.service import ArraylakeService, Org
from tests.support.users import create_user
from tests.support.web import (
    browser_sign_in,
    screenshot,
    watch,
    web_user,
    write_sample_repo,
)

pytestmark = pytest.mark.parametrize("service", ["sqlite"], indirect=True)

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def new_page(browser: Browser, *, bypass_csp: bool = False) -> tuple[Page, list[str]]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=bypass_csp)
    context.set_default_timeout(30_000)
    page = context.new_page()
    return page, watch(page)


def check_page(page: Page, name: str) -> None:
    """Every page: the sign-out button is there, a screenshot is kept."""
    expect(page.locator("#sign-out")).to_be_visible()
    screenshot(page, name)


@pytest.fixture
def people(service: ArraylakeService, org: Org) -> Iterator[dict[str, str]]:
    """Emails of an admin, a repo reader and a member without grants of ``org``."""
    emails = {}
    for person, role in (("admin", "admin"), ("reader", "repo_reader"), ("member", "member")):
        user = web_user(service, org.name, role, person)
        emails[person] = user.email
        user.close()
    yield emails


def test_an_admin_browses_compares_looks_and_administers(
    browser: Browser, service: ArraylakeService, org: Org, people: dict[str, str]
) -> None:
    sample = write_sample_repo(org, "weather-demo", metadata={"project": "era5", "team": "climate"})
    client = Client(service_uri=org.url, token=org.token)
    for i in range(3):
        client.create_repo(f"{org.name}/extra-{i}", description=f"More data {i}")
    page, errors = new_page(browser)

    # sign in: straight to the org's catalog
    browser_sign_in(page, service, people["admin"])
    expect(page).to_have_url(re.compile(rf"/app/{org.name}$"))
    expect(page.locator(f"#repo-{sample.name}")).to_be_visible()
    check_page(page, "01-catalog")

    # live search (htmx): the results change and the address follows
    page.fill("#q", "era5")
    expect(page.locator("#catalog-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=era5"))
    check_page(page, "02-catalog-search")

    # the repo: overview, tree, history
    page.click(f"#repo-{sample.name} a")
    expect(page.locator("#repo-title")).to_contain_text(sample.name)
    expect(page.locator("#latest-message")).to_contain_text("Units as degK, add wind")
    check_page(page, "03-repo-overview")

    page.click("nav.tabs >> text=Browse")
    expect(page.locator("#tree")).to_contain_text("temperature")
    page.click("#tree >> text=temperature")
    expect(page.locator("#array-shape")).to_contain_text("4")
    expect(page.locator("#array-axes")).to_contain_text("degrees_north")
    check_page(page, "04-repo-tree")

    page.click("nav.tabs >> text=History")
    expect(page.locator("#commits tbody tr")).to_have_count(4)  # three commits and the repo's first
    check_page(page, "05-repo-history")

    # compare the chunk rewrite with its parent: four chunks of time 1 changed
    page.goto(f"{service.url}{sample.path}/diff?from={sample.snapshots[0]}&to={sample.snapshots[1]}")
    heat = page.locator("svg rect.changed")
    expect(heat).to_have_count(4)
    check_page(page, "06-repo-diff")

    # a look at the data: an image, a slider, the value at a clicked point
    page.goto(f"{service.url}{sample.path}/data?ref=main&path=weather/temperature")
    image = page.locator("#data-image")
    expect(image).to_be_visible()
    first_src = image.get_attribute("src")
    page.locator("#slider-time").fill("1")
    page.locator("#slider-time").dispatch_event("change")
    expect(page.locator("#data-image")).not_to_have_attribute("src", first_src or "")
    page.locator("#data-image").click(position={"x": 20, "y": 20})
    expect(page.locator("#point-value")).to_be_visible()
    check_page(page, "07-repo-data")

    page.goto(f"{service.url}{sample.path}/data?ref=main&path=weather/station")
    expect(page.locator("#data-series")).to_be_visible()
    check_page(page, "08-repo-data-series")

    # members: add one
    newcomer = f"newcomer-{org.name}@example.com"
    create_user(service, newcomer)
    page.goto(f"{service.url}/app/{org.name}/-/members")
    page.fill("#add-principal", newcomer)
    page.select_option("#add-member select[name=role]", "repo_reader")
    page.click("#add-member-submit")
    expect(page.locator("#invitations")).to_contain_text(newcomer)  # accepted at their next sign-in
    check_page(page, "09-members")

    # an API client: its token shown once, then revoked
    page.goto(f"{service.url}/app/{org.name}/-/api-clients")
    page.fill("#client-name", "pipeline")
    page.click("#create-client-submit")
    token = page.locator("#new-token-value").inner_text().strip()
    assert token.startswith("ema_")
    check_page(page, "10-api-client-token")
    ok = httpx.get(f"{service.url}/user", headers={"authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    page.goto(f"{service.url}/app/{org.name}/-/api-clients")
    assert token not in page.content()
    pipeline = page.locator("article[id^=client-]", has_text="pipeline")
    pipeline.locator("button[id^=revoke-token-]").click()
    expect(page.locator("#flash")).to_contain_text("Revoked token")
    assert httpx.get(f"{service.url}/user", headers={"authorization": f"Bearer {token}"}).status_code == 401
    check_page(page, "11-api-clients")

    # buckets and compute (look)
    page.goto(f"{service.url}/app/{org.name}/-/buckets")
    check_page(page, "12-buckets")
    page.goto(f"{service.url}/app/{org.name}/-/compute")
    check_page(page, "13-compute")

    # delete a repo (typing its name), then restore it
    page.goto(f"{service.url}/app/{org.name}/extra-1/settings")
    check_page(page, "14-repo-settings")
    page.fill("#delete-confirm", "extra-1")
    page.click("#delete-repo")
    expect(page).to_have_url(re.compile(rf"/app/{org.name}"))
    expect(page.locator("#repo-extra-1")).to_have_count(0)
    page.goto(f"{service.url}/app/{org.name}/-/deleted")
    expect(page.locator("#deleted-extra-1")).to_be_visible()
    check_page(page, "15-deleted")
    page.click("#restore-extra-1 button, button#restore-extra-1")
    page.goto(f"{service.url}/app/{org.name}")
    expect(page.locator("#repo-extra-1")).to_be_visible()

    page.goto(f"{service.url}/app/-/account")
    expect(page.locator("#my-email")).to_have_text(people["admin"])
    check_page(page, "16-account")

    # sign out: the pages send the browser to sign in again
    page.click("#sign-out")
    page.goto(f"{service.url}/app/{org.name}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.context.close()
    assert not errors, errors


def test_a_reader_sees_no_admin_controls_and_a_member_without_grants_no_repos(
    browser: Browser, service: ArraylakeService, org: Org, people: dict[str, str]
) -> None:
    sample = write_sample_repo(org)
    page, errors = new_page(browser)
    browser_sign_in(page, service, people["reader"])
    expect(page.locator(f"#repo-{sample.name}")).to_be_visible()
    expect(page.locator("#new-repo")).to_have_count(0)
    expect(page.locator("nav.sidenav")).not_to_contain_text("Members")
    check_page(page, "20-reader-catalog")
    page.goto(f"{service.url}{sample.path}")
    expect(page.locator("nav.tabs")).not_to_contain_text("Settings")
    check_page(page, "21-reader-repo")
    page.goto(f"{service.url}/app/{org.name}/-/members")
    expect(page.locator("#error-detail")).to_contain_text("does not allow you to manage members")
    page.context.close()

    page, more = new_page(browser)
    browser_sign_in(page, service, people["member"])
    expect(page.locator(f"#repo-{sample.name}")).to_have_count(0)
    expect(page.locator("#catalog-empty")).to_be_visible()
    check_page(page, "22-member-catalog")
    page.context.close()
    # refusals are pages with a 4xx, which the watcher ignores; a 5xx or a script error is not
    assert not errors and not more, errors + more


def test_pages_pass_axe_and_the_keyboard_reaches_them(
    browser: Browser, service: ArraylakeService, org: Org, people: dict[str, str]
) -> None:
    sample = write_sample_repo(org)
    page, errors = new_page(browser, bypass_csp=True)  # axe-core is injected by the test
    browser_sign_in(page, service, people["admin"])
    axe = Axe()
    pages = [
        f"/app/{org.name}",
        sample.path,
        f"{sample.path}/tree?ref=main&path=weather/temperature",
        f"{sample.path}/history",
        f"{sample.path}/refs",
        f"{sample.path}/diff?from={sample.snapshots[0]}&to={sample.snapshots[2]}",
        f"{sample.path}/data?ref=main&path=weather/temperature",
        f"{sample.path}/settings",
        f"/app/{org.name}/-/new",
        f"/app/{org.name}/-/deleted",
        f"/app/{org.name}/-/members",
        f"/app/{org.name}/-/grants",
        f"/app/{org.name}/-/api-clients",
        f"/app/{org.name}/-/buckets",
        f"/app/{org.name}/-/virtual-chunks",
        f"/app/{org.name}/-/compute",
        "/app/-/account",
        "/login",
    ]
    problems = {}
    for path in pages:
        page.goto(service.url + path)
        results = axe.run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
        found = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])}: {v['nodes'][0]['target']})"
            for v in results.response["violations"]
        ]
        if found:
            problems[path] = found
    assert not problems, problems

    # the keyboard: the first Tab lands on "Skip to content", which moves focus past the top bar
    page.goto(f"{service.url}/app/{org.name}")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.keyboard.press("Enter")
    for _ in range(15):  # then on to the search box, through the side nav
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "q":
            break
    assert page.evaluate("document.activeElement.id") == "q"
    page.context.close()
    assert not errors, errors
