"""Bad input to a real service (SQLite and PostgreSQL): every field of an import, NUL characters, lone
surrogates, deep nesting, org names that differ only in case, and adding members by email. Each bad request
is a 4xx with a clear ``detail`` that changes nothing and leaves the keep-alive connection usable."""

from __future__ import annotations

import json
import statistics
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.access import create_user, device_login, new_person, raw_http, unique
from tests.support.service import ArraylakeService, Org


@pytest.fixture
def http(org: Org) -> httpx.Client:
    return httpx.Client(base_url=org.url, headers={"authorization": f"Bearer {org.token}"}, timeout=30)


def snapshot(http: httpx.Client, org: Org) -> tuple:
    return tuple(
        http.get(f"/orgs/{org.name}/{what}").json() for what in ("repos", "buckets", "members", "api-clients")
    )


def _local_port(response: httpx.Response) -> int:
    return response.extensions["network_stream"].get_extra_info("client_addr")[1]


def refused(http: httpx.Client, org: Org, method: str, url: str, status: int = 422, **kwargs: Any) -> str:
    """Send a bad request; check its answer, that nothing changed, and that the connection still serves."""
    before = snapshot(http, org)
    answer = http.request(method, url, **kwargs)
    assert answer.status_code == status, answer.text[:500]
    detail = answer.json()["detail"]
    assert detail
    assert answer.headers.get("connection") != "close"
    port = _local_port(answer)
    after = http.get("/")
    assert after.status_code == 200
    assert _local_port(after) == port, "the service closed the connection"
    assert snapshot(http, org) == before
    return json.dumps(detail)


def raw(body: str) -> dict[str, Any]:
    """A JSON body sent exactly as written (escapes such as \\u0000 included)."""
    return {"content": body.encode(), "headers": {"content-type": "application/json"}}


# ----------------------------------------------------------------------------------------- import_repo

IMPORT_BODIES = {
    "empty": ("{}", "name"),
    "no prefix": ('{"name": "imp"}', "prefix"),
    "dot-dot name": ('{"name": "..", "prefix": "p"}', "repo name"),
    "reserved name": ('{"name": "repos", "prefix": "p"}', "reserved"),
    "name not a string": ('{"name": 5, "prefix": "p"}', "name"),
    "empty prefix": ('{"name": "imp", "prefix": ""}', "prefix"),
    "escaping prefix": ('{"name": "imp", "prefix": "../up"}', "prefix"),
    "absolute prefix": ('{"name": "imp", "prefix": "/abs"}', "prefix"),
    "prefix not a string": ('{"name": "imp", "prefix": 7}', "prefix"),
    "long description": (json.dumps({"name": "imp", "prefix": "p", "description": "x" * 300}), "description"),
    "bad nickname": ('{"name": "imp", "prefix": "p", "bucket_nickname": "a b"}', "nickname"),
    "nickname not a string": ('{"name": "imp", "prefix": "p", "bucket_nickname": 3}', "nickname"),
    "unknown kind": ('{"name": "imp", "prefix": "p", "kind": "zarr"}', "kind"),
    "nested metadata": ('{"name": "imp", "prefix": "p", "metadata": {"a": {"b": 1}}}', "metadata"),
    "metadata not an object": ('{"name": "imp", "prefix": "p", "metadata": "text"}', "metadata"),
    "empty metadata key": ('{"name": "imp", "prefix": "p", "metadata": {"": 1}}', "keys"),
    "NaN metadata": ('{"name": "imp", "prefix": "p", "metadata": {"a": NaN}}', "NaN"),
    "huge metadata": (json.dumps({"name": "imp", "prefix": "p", "metadata": {"k": "x" * 5000}}), "larger"),
    "NUL in description": ('{"name": "imp", "prefix": "p", "description": "a\\u0000b"}', "NUL"),
    "lone surrogate in metadata": (
        '{"name": "imp", "prefix": "p", "metadata": {"a": "\\ud800"}}',
        "surrogate",
    ),
    "not an object": ("[]", "body"),
}


@pytest.mark.parametrize("case", list(IMPORT_BODIES))
def test_every_field_of_import_repo(http: httpx.Client, org: Org, case: str) -> None:
    body, phrase = IMPORT_BODIES[case]
    detail = refused(http, org, "POST", f"/orgs/{org.name}/repos/import", **raw(body))
    assert phrase in detail, detail


# -------------------------------------------------------------------------- NUL and lone surrogates

BAD_TEXT = {"NUL": ("a\\u0000b", "NUL"), "lone surrogate": ("a\\udc80b", "surrogate")}


def _text_bodies(org: Org, repo: str, text: str) -> list[tuple[str, str, str]]:
    """(method, url, JSON body) for every endpoint that stores text, with ``text`` in one field."""
    o = org.name
    return [
        ("POST", f"/orgs/{o}/repos", f'{{"name": "r1", "description": "{text}"}}'),
        ("POST", f"/orgs/{o}/repos", f'{{"name": "r1", "metadata": {{"k": "{text}"}}}}'),
        ("POST", f"/orgs/{o}/repos", f'{{"name": "r1", "metadata": {{"{text}": 1}}}}'),
        ("POST", f"/orgs/{o}/repos", f'{{"name": "r1", "metadata": {{"k": ["ok", "{text}"]}}}}'),
        ("PATCH", f"/orgs/{o}/{repo}", f'{{"description": "{text}"}}'),
        ("PATCH", f"/orgs/{o}/{repo}", f'{{"add_metadata": {{"k2": "{text}"}}}}'),
        ("PATCH", f"/orgs/{o}/{repo}", f'{{"remove_metadata": ["{text}"]}}'),
        ("PUT", f"/orgs/{o}/{repo}/status", f'{{"mode": "maintenance", "message": "{text}"}}'),
        ("POST", f"/orgs/{o}/members", f'{{"principal": "x{text}@example.com"}}'),
        (
            "POST",
            f"/repos/{o}/{repo}/grants",
            f'{{"principal": "x{text}@example.com", "actions": ["CAN_READ"]}}',
        ),
        ("POST", f"/orgs/{o}/api-clients", f'{{"name": "{text}"}}'),
        (
            "POST",
            f"/orgs/{o}/buckets",
            '{"nickname": "hm", "platform": "s3-compatible", "name": "bkt",'
            ' "extra_config": {"endpoint_url": "http://127.0.0.1:1"},'
            f' "auth_config": {{"method": "hmac", "access_key_id": "{text}", "secret_access_key": "s"}}}}',
        ),
        (
            "POST",
            f"/orgs/{o}/buckets",
            f'{{"nickname": "lo", "platform": "local", "name": "dir", "prefix": "{text}"}}',
        ),
    ]


@pytest.mark.parametrize("kind", list(BAD_TEXT))
def test_text_that_cannot_be_stored_is_refused(http: httpx.Client, org: Org, kind: str) -> None:
    created = http.post(f"/orgs/{org.name}/repos", json={"name": "target", "metadata": {"k": "v"}})
    assert created.status_code == 201, created.text
    text, phrase = BAD_TEXT[kind]
    for method, url, body in _text_bodies(org, "target", text):
        detail = refused(http, org, method, url, **raw(body))
        assert phrase in detail or "email" in detail, (url, body, detail)


def test_surrogate_pairs_are_text(http: httpx.Client, org: Org) -> None:
    answer = http.post(
        f"/orgs/{org.name}/repos", **raw('{"name": "emoji", "metadata": {"k": "\\ud83d\\ude00"}}')
    )
    assert answer.status_code == 201, answer.text
    assert http.get(f"/repos/{org.name}/emoji").json()["metadata"] == {"k": "\U0001f600"}


@pytest.mark.parametrize("kind", list(BAD_TEXT))
def test_bad_text_in_filter_metadata(http: httpx.Client, org: Org, kind: str) -> None:
    text, phrase = BAD_TEXT[kind]
    url = f"/orgs/{org.name}/repos/paginated"
    for raw_filter in (f'{{"k": "{text}"}}', f'{{"{text}": 1}}', f'{{"k": ["{text}"]}}'):
        detail = refused(http, org, "GET", url, params={"filter_metadata": raw_filter})
        assert phrase in detail, detail


@pytest.mark.parametrize("who", ["a\x00b@example.com", "\x00"])
def test_nul_in_paths_and_queries(http: httpx.Client, org: Org, who: str) -> None:
    for method, kwargs in (("PATCH", {"json": {"role": "admin"}}), ("DELETE", {})):
        detail = refused(
            http, org, method, f"/orgs/{org.name}/members/{quote(who, safe='@')}", status=422, **kwargs
        )
        assert "NUL" in detail
    detail = refused(http, org, "GET", f"/orgs/{org.name}/repos/paginated", params={"after": who})
    assert "NUL" in detail


# ------------------------------------------------------------------------------------------ nesting


def test_deeply_nested_filter_metadata(http: httpx.Client, org: Org) -> None:
    url = f"/orgs/{org.name}/repos/paginated"
    for depth in (3, 40, 5000):
        nested = '{"a": ' + "[" * depth + "1" + "]" * depth + "}"
        detail = refused(http, org, "GET", url, params={"filter_metadata": nested})
        assert "filter_metadata" in detail, detail


@pytest.mark.parametrize("depth", [40, 800, 5000])
def test_deeply_nested_body(http: httpx.Client, org: Org, depth: int) -> None:
    body = '{"name": "deep", "metadata": {"a": ' + "[" * depth + "1" + "]" * depth + "}}"
    detail = refused(http, org, "POST", f"/orgs/{org.name}/repos", **raw(body))
    assert "nested" in detail or "metadata" in detail, detail


# ------------------------------------------------------------------------------- org names and case


def test_org_names_that_differ_only_in_case(service: ArraylakeService) -> None:
    person = new_person(service, "caser")
    name = unique("case")
    with person.http() as http:
        assert http.post("/orgs", json={"name": name}).status_code == 201
        for other in (name.upper(), name.capitalize()):
            answer = http.post("/orgs", json={"name": other})
            assert answer.status_code == 409, answer.text
            assert "ignoring case" in answer.json()["detail"]
            assert http.get("/").status_code == 200
        assert [o["name"] for o in http.get("/user/orgs").json()] == [name]

    upper = name.upper()
    cli = service.cli("server", "init", "--data-dir", str(service.data_dir), "--org", upper, check=False)
    assert cli.returncode != 0
    assert "ignoring case" in cli.stdout + cli.stderr
    assert "Traceback" not in cli.stdout + cli.stderr
    assert upper not in cli.stdout.splitlines()[-1:]  # no token printed for a refused org
    with person.http() as http:
        assert [o["name"] for o in http.get("/user/orgs").json()] == [name]


# ------------------------------------------------------------------------------- members by email


def test_adding_a_member_by_email_does_not_tell_who_has_an_account(
    service: ArraylakeService, org: Org
) -> None:
    known = f"{unique('known')}@example.com"
    known_id = create_user(service, known)  # has an account, in no org
    http = raw_http(service, org.token)

    def add(email: str) -> tuple[httpx.Response, float]:
        started = time.perf_counter()
        answer = http.post(f"/orgs/{org.name}/members", json={"principal": email, "role": "repo_reader"})
        return answer, time.perf_counter() - started

    answers: dict[str, httpx.Response] = {}
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for round_ in range(6):
        pair = {
            "known": f"k{round_}-{known}" if round_ else known,
            "unknown": f"{unique('nobody')}@example.com",
        }
        for what, email in pair.items():
            answer, took = add(email)
            assert answer.status_code == 201, answer.text
            timings[what].append(took)
            answers.setdefault(what, answer)
            body = answer.json()
            assert body["email"] == email and body["name"] is None
            assert body["kind"] == "user" and body["role"] == "repo_reader"
            uuid.UUID(body["principal_id"])
    known_body, unknown_body = answers["known"].json(), answers["unknown"].json()
    assert known_body["principal_id"] == known_id
    assert {k for k in known_body if k != "principal_id"} == {k for k in unknown_body if k != "principal_id"}
    assert [v for k, v in known_body.items() if k not in ("principal_id", "email")] == [
        v for k, v in unknown_body.items() if k not in ("principal_id", "email")
    ]
    assert answers["known"].headers.keys() == answers["unknown"].headers.keys()
    assert abs(statistics.median(timings["known"]) - statistics.median(timings["unknown"])) < 0.05

    # adding either address again is the same 409
    for email in (known, unknown_body["email"]):
        again = http.post(f"/orgs/{org.name}/members", json={"principal": email})
        assert again.status_code == 409 and "already a member" in again.json()["detail"]

    # the invitation takes effect when someone signs up with the address
    invited = unknown_body["email"]
    assert create_user(service, invited) == unknown_body["principal_id"]
    token = device_login(service, invited)["id_token"]
    with raw_http(service, token) as theirs:
        assert org.name in [o["name"] for o in theirs.get("/user/orgs").json()]
        assert theirs.get(f"/orgs/{org.name}/repos").status_code == 200


def test_member_lists_grants_and_refusals_do_not_tell_who_has_an_account(
    service: ArraylakeService, org: Org
) -> None:
    """After the add, nothing else tells them apart either: the member list, role changes and removals of
    non-members, grants by email and their revocation; the name shows once the person signs in."""
    known = f"{unique('Known')}@Example.com"
    create_user(service, known.lower())
    unknown = f"{unique('nobody')}@example.com"
    http = raw_http(service, org.token)
    repo = unique("shared")
    assert http.post(f"/orgs/{org.name}/repos", json={"name": repo}).status_code == 201

    for email in (known, unknown):
        assert http.post(f"/orgs/{org.name}/members", json={"principal": email}).status_code == 201
    listed = {m["email"]: m for m in http.get(f"/orgs/{org.name}/members").json()}
    shown = [listed[known.lower()], listed[unknown]]
    assert [(m["name"], m["kind"], m["role"]) for m in shown] == [(None, "user", "member")] * 2

    strangers = (f"{unique('stranger')}@example.com", f"{unique('ghost')}@example.com")
    create_user(service, strangers[0])  # an account, but not a member
    for change in ("patch", "delete"):
        answers = [
            http.request(change.upper(), f"/orgs/{org.name}/members/{who}", json={"role": "admin"})
            for who in strangers
        ]
        assert [a.status_code for a in answers] == [404, 404]
        assert [a.json()["detail"].replace(who, "X") for a, who in zip(answers, strangers, strict=True)] == [
            f"X is not a member of org {org.name}"
        ] * 2

    grants_url = f"/repos/{org.name}/{repo}/grants"
    granted = [http.post(grants_url, json={"principal": who, "actions": ["CAN_READ"]}) for who in strangers]
    assert [g.status_code for g in granted] == [200, 200], [g.text for g in granted]
    by_email = {g["email"]: g for g in granted[-1].json()}
    assert {by_email[who]["kind"] for who in strangers} == {"user"}
    others = (f"{unique('other')}@example.com", f"{unique('nope')}@example.com")
    create_user(service, others[0])
    revoked = [http.delete(f"{grants_url}/{who}") for who in others]
    assert [r.status_code for r in revoked] == [404, 404]
    assert [r.json()["detail"].replace(who, "X") for r, who in zip(revoked, others, strict=True)] == [
        f"X holds no such grant on repo {org.name}/{repo}"
    ] * 2

    # once the person signs in, the org sees who joined
    device_login(service, known.lower())
    member = {m["email"]: m for m in http.get(f"/orgs/{org.name}/members").json()}[known.lower()]
    assert member["name"] == f"Test {known.lower().split('@')[0]}"
