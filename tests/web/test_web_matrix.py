"""The web app's authorization matrix: every page and form of ``/app`` x six signed-in people, on SQLite and
PostgreSQL. Reading pages answer 200 to those the policy lets see them and the policy's 403 or 404 page to
the others; forms are posted only by those who may not use them (a refusal, and nothing changes), and
without their CSRF token by an admin (403). A bearer token is no browser sign-in: every route sends such a
caller to sign in. The table must name every route of the web app.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from arraylake.server.app import create_app
from tests.support.service import ArraylakeService, Org
from tests.support.web import SampleRepo, WebUser, web_user, write_sample_repo
from tests.test_authorization_matrix import routes

PEOPLE = ("admin", "writer", "reader", "member", "granted", "outsider")
ROLES = {"admin": "admin", "writer": "repo_writer", "reader": "repo_reader", "member": "member"}

ALL = dict.fromkeys(PEOPLE[:-1], 200) | {"outsider": 404}
READERS = {"admin": 200, "writer": 200, "reader": 200, "member": 403, "granted": 403, "outsider": 404}
ADMINS = {"admin": 200, "writer": 403, "reader": 403, "member": 403, "granted": 403, "outsider": 404}
CREATORS = {"admin": 200, "writer": 200, "reader": 403, "member": 403, "granted": 403, "outsider": 404}
REPO_READERS = {"admin": 200, "writer": 200, "reader": 200, "member": 403, "granted": 200, "outsider": 404}
REPO_CHANGERS = {"admin": 200, "writer": 200, "reader": 403, "member": 403, "granted": 403, "outsider": 404}
REPO_MANAGERS = {"admin": 200, "writer": 403, "reader": 403, "member": 403, "granted": 403, "outsider": 404}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: dict[str, int]
    """Per person: the status of a GET; for a POST, 200 marks who may (not posted here)."""
    query: str = ""
    form: tuple[tuple[str, str], ...] = ()


ORG, REPO = "/app/{org}", "/app/{org}/{repo}"
NOBODY = "00000000-0000-4000-8000-000000000000"
NO_SERVICE = dict.fromkeys(PEOPLE, 404)  # members may look, but there is no such service
NO_RUN = {person: 404 if status == 200 else status for person, status in REPO_READERS.items()}
POLICY_FORM = (
    ("window_own", "true"),
    ("window_day", "6"),
    ("window_start", "03:00"),
    ("window_duration", "2h"),
)
ROWS: tuple[Row, ...] = (
    Row("GET", "/app", dict.fromkeys(PEOPLE, 303)),
    Row("GET", "/app/-/account", dict.fromkeys(PEOPLE, 200)),
    Row("GET", "/app/{anything:path}", dict.fromkeys(PEOPLE, 404), query="no/such/page"),
    # the org: catalog, new repo, deleted repos
    Row("GET", ORG, ALL),
    Row("GET", ORG + "/-/new", CREATORS),
    Row("POST", ORG + "/-/new", CREATORS, form=(("name", "made-by-matrix"),)),
    Row("GET", ORG + "/-/deleted", READERS),
    Row("POST", ORG + "/-/deleted/{repo}/restore", REPO_MANAGERS),
    # members, grants, API clients
    Row("GET", ORG + "/-/members", ADMINS),
    Row("POST", ORG + "/-/members", ADMINS, form=(("principal", "nobody@example.com"), ("role", "member"))),
    Row("POST", ORG + "/-/members/{principal_id}/role", ADMINS, form=(("role", "admin"),)),
    Row("POST", ORG + "/-/members/{principal_id}/remove", ADMINS, form=(("confirm", "yes"),)),
    Row("GET", ORG + "/-/grants", ADMINS),
    Row(
        "POST",
        ORG + "/-/grants",
        REPO_MANAGERS,
        form=(("repo", "{repo}"), ("principal", "nobody@example.com"), ("action", "CAN_READ")),
    ),
    Row("POST", ORG + "/-/grants/{repo}/{principal_id}/revoke", REPO_MANAGERS),
    Row("GET", ORG + "/-/api-clients", ADMINS),
    Row("POST", ORG + "/-/api-clients", ADMINS, form=(("name", "matrix-client"), ("role", "member"))),
    Row("POST", ORG + "/-/api-clients/{client_id}/revoke", ADMINS, form=(("confirm", "yes"),)),
    Row("POST", ORG + "/-/api-clients/{client_id}/tokens", ADMINS, form=(("name", "t"),)),
    Row("POST", ORG + "/-/api-clients/{client_id}/tokens/{token_id}/revoke", ADMINS),
    # bucket configs and virtual chunk policies
    Row("GET", ORG + "/-/buckets", READERS),
    Row(
        "POST",
        ORG + "/-/buckets",
        ADMINS,
        form=(("nickname", "matrix"), ("platform", "s3"), ("name", "matrix-bucket"), ("auth", "anonymous")),
    ),
    Row("POST", ORG + "/-/buckets/{bucket_id}/check", CREATORS),
    Row("POST", ORG + "/-/buckets/{bucket_id}/default", ADMINS),
    Row("POST", ORG + "/-/buckets/{bucket_id}/delete", ADMINS, form=(("confirm", "yes"),)),
    Row("GET", ORG + "/-/virtual-chunks", READERS),
    Row("POST", ORG + "/-/virtual-chunks", ADMINS, form=(("bucket", "local"), ("subprefix", "x"))),
    Row("POST", ORG + "/-/virtual-chunks/delete", ADMINS, form=(("bucket", "local"), ("subprefix", "x"))),
    # compute services
    Row("GET", ORG + "/-/compute", ALL),
    Row("GET", ORG + "/-/compute/services", ALL),
    Row("POST", ORG + "/-/compute", ADMINS, form=(("service_type", "edr"),)),
    Row("POST", ORG + "/-/compute/{name}/disable", ADMINS, form=(("confirm", "true"),)),
    Row("GET", ORG + "/-/compute/{name}/logs", NO_SERVICE),
    # a repo
    Row("GET", REPO, REPO_READERS),
    Row("GET", REPO + "/tree", REPO_READERS),
    Row("GET", REPO + "/history", REPO_READERS),
    Row("GET", REPO + "/refs", REPO_READERS),
    Row("GET", REPO + "/diff", REPO_READERS),
    Row("GET", REPO + "/data", REPO_READERS),
    Row("GET", REPO + "/data/image.png", REPO_READERS, query="path=weather/temperature"),
    Row("GET", REPO + "/data/colorbar.png", REPO_READERS),
    Row("GET", REPO + "/data/series.png", REPO_READERS, query="path=weather/station"),
    Row("GET", REPO + "/settings", REPO_CHANGERS),
    Row("POST", REPO + "/settings", REPO_CHANGERS, form=(("description", "changed by the matrix"),)),
    Row("POST", REPO + "/status", REPO_CHANGERS, form=(("mode", "offline"),)),
    Row("POST", REPO + "/delete", REPO_MANAGERS, form=(("confirm", "{repo}"),)),
    # maintenance and the audit log
    Row("GET", ORG + "/-/maintenance", ALL),
    Row("POST", ORG + "/-/maintenance", ADMINS, form=POLICY_FORM),
    Row("GET", ORG + "/-/audit", ADMINS),
    Row("GET", ORG + "/-/audit/export", ADMINS),
    Row("GET", ORG + "/-/audit/verify", ADMINS),
    Row("GET", REPO + "/maintenance", REPO_READERS),
    Row("POST", REPO + "/maintenance", REPO_MANAGERS, form=POLICY_FORM),
    Row("POST", REPO + "/maintenance/reset", REPO_MANAGERS),
    Row("POST", REPO + "/maintenance/dry-run", REPO_CHANGERS),
    Row("POST", REPO + "/maintenance/run", REPO_MANAGERS),
    Row("GET", REPO + "/maintenance/runs/{run_id}", NO_RUN),
)


@dataclass
class World:
    service: ArraylakeService
    org: Org
    sample: SampleRepo
    people: dict[str, WebUser]

    def url(self, row: Row) -> str:
        values = {
            "org": self.org.name,
            "repo": self.sample.name,
            "principal_id": self.people["reader"].principal_id,
            "client_id": NOBODY,
            "token_id": NOBODY,
            "bucket_id": NOBODY,
            "name": "no-such-service",
            "run_id": NOBODY,
            "anything:path": row.query,
        }
        path = row.path
        for key, value in values.items():
            path = path.replace("{" + key + "}", value)
        if row.query and "{anything:path}" not in row.path:
            path += "?" + row.query
        return path

    def form(self, row: Row) -> dict[str, str]:
        return {key: value.replace("{repo}", self.sample.name) for key, value in row.form}


@pytest.fixture(scope="module")
def world(service: ArraylakeService) -> Iterator[World]:
    org = service.new_org("matrix")
    sample = write_sample_repo(org)
    people = {person: web_user(service, org.name, role, person) for person, role in ROLES.items()}
    people["granted"] = web_user(service, org.name, "member", "granted")
    people["outsider"] = web_user(service, service.new_org("elsewhere").name, "admin", "outsider")
    grant = httpx.post(
        f"{service.url}/repos/{org.name}/{sample.name}/grants",
        json={"principal": people["granted"].email, "actions": ["CAN_READ"]},
        headers={"authorization": f"Bearer {org.token}"},
    )
    assert grant.status_code == 200, grant.text
    yield World(service, org, sample, people)
    for person in people.values():
        person.close()


def test_the_table_names_every_route_of_the_web_app() -> None:
    served = {(m, p) for m, p in routes(create_app().routes) if p == "/app" or p.startswith("/app/")}
    tested = {(row.method, row.path) for row in ROWS}
    assert served == tested, {"untested": served - tested, "unknown": tested - served}


@pytest.mark.parametrize("row", [r for r in ROWS if r.method == "GET"], ids=lambda r: f"GET {r.path}")
def test_pages_answer_as_the_policy_decides(world: World, row: Row) -> None:
    path = world.url(row)
    got = {person: world.people[person].get(path).status_code for person in PEOPLE}
    assert got == row.expected, path


@pytest.mark.parametrize("row", [r for r in ROWS if r.method == "POST"], ids=lambda r: f"POST {r.path}")
def test_forms_are_refused_to_those_the_policy_refuses(world: World, row: Row) -> None:
    path = world.url(row)
    before = httpx.get(
        f"{world.service.url}/repos/{world.org.name}/{world.sample.name}",
        headers={"authorization": f"Bearer {world.org.token}"},
    ).json()
    refused = {p: s for p, s in row.expected.items() if s != 200}
    got = {person: world.people[person].post(path, world.form(row)).status_code for person in refused}
    assert got == refused, path
    forged = world.people["admin"].http.post(path, data={**world.form(row), "csrf": uuid.uuid4().hex})
    assert forged.status_code == 403 and "did not come from this site" in forged.text
    after = httpx.get(
        f"{world.service.url}/repos/{world.org.name}/{world.sample.name}",
        headers={"authorization": f"Bearer {world.org.token}"},
    ).json()
    assert after == before, "a refused form changed the repo"


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r.method} {r.path}")
def test_a_bearer_token_is_no_browser_sign_in(world: World, row: Row) -> None:
    response = httpx.request(
        row.method,
        world.service.url + world.url(row),
        headers={"authorization": f"Bearer {world.org.token}"},
        data=world.form(row) if row.method == "POST" else None,
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
