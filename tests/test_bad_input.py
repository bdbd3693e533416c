"""Bad input, end to end: every refusal has the exact 4xx status, a readable ``detail`` and a ``request_id``,
and changes nothing.

The service is a real process (SQLite and PostgreSQL catalogs); requests go through raw ``httpx`` and
through ``arraylake.Client``. One org with two repos is shared by the module: every test here leaves it as
it found it, which each test checks by comparing the org's repos and bucket configs before and after.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from arraylake import Client
from arraylake.exceptions import (
    ArraylakeAuthenticationError,
    ArraylakeConflictError,
    ArraylakeNotFoundError,
    ArraylakeValidationError,
)
from tests.support.service import ArraylakeService, Org

REPOS = ("alpha", "beta")


@dataclass
class World:
    service: ArraylakeService
    org: Org  # two repos (alpha, beta) in its default `local` bucket, and an unused bucket `spare`
    other: Org  # another org, with its own token
    local_id: str
    spare_id: str
    other_local_id: str

    @property
    def name(self) -> str:
        return self.org.name

    @property
    def storage_root(self) -> Path:
        return self.service.settings.storage_root


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


_http: httpx.Client | None = None  # one connection pool for the module's raw requests


@pytest.fixture(scope="module", autouse=True)
def _http_client() -> Iterator[None]:
    global _http
    with httpx.Client(timeout=30) as client:
        _http = client
        yield
    _http = None


def call(
    org: Org, method: str, path: str, *, token: str | None = None, headers: dict | None = None, **kw: Any
) -> httpx.Response:
    """A raw request to the service, as ``org``'s admin unless ``token``/``headers`` say otherwise."""
    all_headers = auth(token if token is not None else org.token) if headers is None else headers
    assert _http is not None
    return _http.request(method, org.url + path, headers=all_headers, **kw)


def state(org: Org) -> dict[str, Any]:
    """Everything a caller can see of the org: its repos (including soft-deleted) and bucket configs."""
    repos = call(org, "GET", f"/orgs/{org.name}/repos")
    ghosts = call(
        org, "GET", f"/orgs/{org.name}/repos/paginated", params={"size": 1000, "include_ghosts": "true"}
    )
    buckets = call(org, "GET", f"/orgs/{org.name}/buckets")
    assert repos.status_code == ghosts.status_code == buckets.status_code == 200
    return {"repos": repos.json(), "all": ghosts.json(), "buckets": buckets.json()}


def disk(root: Path) -> set[str]:
    """The directories of the service's local storage area (two levels: org / bucket)."""
    return {str(p.relative_to(root)) for p in root.glob("*/*")} | {p.name for p in root.iterdir()}


@contextmanager
def unchanged(world: World, *orgs: Org) -> Iterator[None]:
    """Assert that the block changes nothing visible in the orgs, nor in the local storage area."""
    watched = orgs or (world.org,)
    before = [state(o) for o in watched]
    on_disk = disk(world.storage_root)
    yield
    assert [state(o) for o in watched] == before
    assert disk(world.storage_root) == on_disk


def refused(response: httpx.Response, status: int, *phrases: str) -> Any:
    """Check an error response: status, JSON body with a readable detail and the request id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"detail", "request_id"}, body
    request_id = body["request_id"]
    assert isinstance(request_id, str) and request_id
    assert response.headers["x-request-id"] == request_id
    detail = body["detail"]
    if isinstance(detail, list):  # request validation errors: [{loc, msg, type}]
        assert detail, body
        for item in detail:
            assert isinstance(item["msg"], str) and item["msg"], body
            assert isinstance(item["loc"], list), body
        text = " ".join(f"{'.'.join(map(str, e['loc']))} {e['msg']}" for e in detail)
    else:
        assert isinstance(detail, str) and len(detail) > 5, body
        text = detail
    assert "internal error" not in text.lower()
    for phrase in phrases:
        assert phrase.lower() in text.lower(), f"{phrase!r} not in {text!r}"
    return detail


class Spy:
    """Records the requests a Client sends (and sends them, unchanged)."""

    def __init__(self, client: Client):
        self.calls: list[tuple[str, str]] = []
        transport = client.aclient._transport
        real = transport.request

        async def request(method: str, path: str, **kwargs: Any) -> httpx.Response:
            self.calls.append((method, path))
            return await real(method, path, **kwargs)

        transport.request = request  # type: ignore[method-assign]


def spied_client(org: Org, token: str | None = None) -> tuple[Client, Spy]:
    client = Client(org.url, token=token or org.token)
    return client, Spy(client)


@pytest.fixture(scope="module")
def world(service: ArraylakeService) -> World:
    org = service.new_org("bad")
    other = service.new_org("other")
    client = Client(org.url, token=org.token)
    for name in REPOS:
        client.create_repo(f"{org.name}/{name}", metadata={"project": name})
    spare = client.create_bucket_config(org=org.name, nickname="spare", uri="file://spare-dir")
    local = client.get_bucket_config(org=org.name, nickname="local")
    other_local = Client(other.url, token=other.token).get_bucket_config(org=other.name, nickname="local")
    return World(service, org, other, str(local.id), str(spare.id), str(other_local.id))


@pytest.fixture(scope="module")
def bare(service: ArraylakeService) -> Org:
    """An org without any bucket config, hence without a default bucket."""
    return service.new_org("bare", local_bucket=False)


BAD_NAMES = ["-bad", "x", "bad name", "bad@name", "örg", "o" * 130, "name.with:colon"]


# ----------------------------------------------------------------------------------- names in paths


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/orgs/{bad}/repos"),
        ("GET", "/orgs/{bad}/repos/paginated"),
        ("GET", "/orgs/{bad}/buckets"),
        ("GET", "/repos/{bad}/alpha"),
        ("POST", "/orgs/{bad}/repos"),
        ("DELETE", "/orgs/{bad}/alpha"),
    ],
)
def test_invalid_org_name_in_path(world: World, method: str, template: str) -> None:
    with unchanged(world):
        body = {"json": {"name": "fresh-repo"}} if method == "POST" else {}
        for bad in BAD_NAMES:
            response = call(world.org, method, template.format(bad=bad), **body)
            refused(response, 422, "invalid org name")


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/repos/{org}/{bad}"),
        ("GET", "/repos/{org}/{bad}/open"),
        ("GET", "/orgs/{org}/{bad}/status"),
        ("PATCH", "/orgs/{org}/{bad}"),
        ("DELETE", "/orgs/{org}/{bad}"),
        ("POST", "/orgs/{org}/{bad}/restore"),
    ],
)
def test_invalid_repo_name_in_path(world: World, method: str, template: str) -> None:
    with unchanged(world):
        body = {"json": {"description": "changed"}} if method == "PATCH" else {}
        for bad in BAD_NAMES:
            response = call(world.org, method, template.format(org=world.name, bad=bad), **body)
            refused(response, 422, "invalid repo name")


@pytest.mark.parametrize(
    ("name", "phrase"),
    [
        ("-bad", "invalid repo name"),
        ("x", "invalid repo name"),
        ("buckets", "reserved"),
        ("Repos", "reserved"),
    ],
)
def test_invalid_or_reserved_name_for_a_new_repo(world: World, name: str, phrase: str) -> None:
    client, spy = spied_client(world.org)
    with unchanged(world):
        refused(call(world.org, "POST", f"/orgs/{world.name}/repos", json={"name": name}), 422, phrase)
        with pytest.raises(ValueError, match=phrase):
            client.create_repo(f"{world.name}/{name}")
    assert spy.calls == []


# ------------------------------------------------------------------------------------------ not found


@pytest.mark.parametrize(
    ("method", "template", "kwargs"),
    [
        ("GET", "/repos/{org}/nope-repo", {}),
        ("GET", "/repos/{org}/nope-repo/open", {}),
        ("GET", "/orgs/{org}/nope-repo/status", {}),
        ("PUT", "/orgs/{org}/nope-repo/status", {"json": {"mode": "offline"}}),
        ("PATCH", "/orgs/{org}/nope-repo", {"json": {"description": "x"}}),
        ("DELETE", "/orgs/{org}/nope-repo", {"params": {"immediate": "true"}}),
        ("POST", "/orgs/{org}/nope-repo/activate", {}),
        ("POST", "/orgs/{org}/nope-repo/restore", {}),
    ],
)
def test_unknown_repo(world: World, method: str, template: str, kwargs: dict) -> None:
    with unchanged(world):
        response = call(world.org, method, template.format(org=world.name), **kwargs)
        refused(response, 404, f"repo {world.name}/nope-repo not found")


def test_unknown_repo_through_the_client(world: World) -> None:
    client = Client(world.org.url, token=world.org.token)
    with unchanged(world):
        for action in (
            lambda: client.get_repo_object(f"{world.name}/nope-repo"),
            lambda: client.get_repo(f"{world.name}/nope-repo"),
            lambda: client.delete_repo(f"{world.name}/nope-repo", imsure=True, imreallysure=True),
        ):
            with pytest.raises(
                ArraylakeNotFoundError, match=f"repo {world.name}/nope-repo not found"
            ) as info:
                action()
            assert info.value.status_code == 404 and info.value.request_id


@pytest.mark.parametrize(
    ("method", "template", "kwargs"),
    [
        ("GET", "/orgs/{org}/repos", {}),
        ("GET", "/orgs/{org}/repos/paginated", {}),
        ("GET", "/orgs/{org}/buckets", {}),
        ("GET", "/repos/{org}/alpha", {}),
        ("POST", "/orgs/{org}/repos", {"json": {"name": "fresh-repo"}}),
        ("POST", "/orgs/{org}/buckets", {"json": {"nickname": "nick", "platform": "local", "name": "dir"}}),
        ("DELETE", "/orgs/{org}/alpha", {}),
    ],
)
def test_unknown_org(world: World, method: str, template: str, kwargs: dict) -> None:
    org = "no-such-org-" + uuid.uuid4().hex[:6]
    with unchanged(world):
        refused(call(world.org, method, template.format(org=org), **kwargs), 404, f"org {org} not found")
    with pytest.raises(ArraylakeNotFoundError, match=f"org {org} not found"):
        Client(world.org.url, token=world.org.token).list_repos(org)


def test_unknown_bucket_nickname_on_create_repo(world: World) -> None:
    client, spy = spied_client(world.org)
    with unchanged(world):
        for mode in ("register", "create"):
            response = call(
                world.org,
                "POST",
                f"/orgs/{world.name}/repos",
                json={"name": "fresh-repo", "bucket_nickname": "no-such-bucket", "create_mode": mode},
            )
            refused(response, 404, "bucket config 'no-such-bucket' not found")
        with pytest.raises(ArraylakeNotFoundError, match="bucket config 'no-such-bucket' not found"):
            client.create_repo(f"{world.name}/fresh-repo", bucket_config_nickname="no-such-bucket")
    assert [m for m, _ in spy.calls] == ["POST"]  # refused at once: nothing to abort
    # the name was not reserved by the refused attempts
    refused(call(world.org, "GET", f"/repos/{world.name}/fresh-repo"), 404, "not found")


def test_bucket_nickname_of_another_org_is_unknown(world: World) -> None:
    client = Client(world.other.url, token=world.other.token)
    client.create_bucket_config(org=world.other.name, nickname="theirs", uri="file://theirs-dir")
    try:
        with unchanged(world):
            response = call(
                world.org,
                "POST",
                f"/orgs/{world.name}/repos",
                json={"name": "fresh-repo", "bucket_nickname": "theirs"},
            )
            refused(response, 404, "bucket config 'theirs' not found")
    finally:
        client.delete_bucket_config(org=world.other.name, nickname="theirs", imsure=True, imreallysure=True)


# The routes of one bucket config: (method, path after /buckets/{id}, request arguments).
BUCKET_ROUTES = [
    ("GET", "", {}),
    ("PATCH", "", {"json": {"nickname": "renamed"}}),
    ("DELETE", "", {}),
    ("POST", "/default", {}),
    ("GET", "/repos", {}),
]


@pytest.mark.parametrize(("method", "suffix", "kwargs"), BUCKET_ROUTES)
def test_unknown_bucket_id(world: World, method: str, suffix: str, kwargs: dict) -> None:
    with unchanged(world):
        unknown = str(uuid.uuid4())
        response = call(world.org, method, f"/orgs/{world.name}/buckets/{unknown}{suffix}", **kwargs)
        refused(response, 404, f"bucket config {unknown} not found")
        # another org's bucket config is just as unknown here
        theirs = world.other_local_id
        response = call(world.org, method, f"/orgs/{world.name}/buckets/{theirs}{suffix}", **kwargs)
        refused(response, 404, f"bucket config {theirs} not found")


@pytest.mark.parametrize(("method", "suffix", "kwargs"), BUCKET_ROUTES)
def test_malformed_bucket_id(world: World, method: str, suffix: str, kwargs: dict) -> None:
    with unchanged(world):
        for bad_id in ("not-a-uuid", "1234", "0b7d6d1e-7d1c-4d84-9a55", "'; drop table buckets; --"):
            response = call(world.org, method, f"/orgs/{world.name}/buckets/{bad_id}{suffix}", **kwargs)
            refused(response, 422, "bucket_id", "uuid")


# ------------------------------------------------------------------------------------------ conflicts


def test_duplicate_repo_name(world: World) -> None:
    before = call(world.org, "GET", f"/repos/{world.name}/alpha").json()
    client, spy = spied_client(world.org)
    with unchanged(world):
        for mode in ("register", "create"):
            response = call(
                world.org, "POST", f"/orgs/{world.name}/repos", json={"name": "alpha", "create_mode": mode}
            )
            refused(response, 409, f"repo {world.name}/alpha already exists")
        with pytest.raises(ArraylakeConflictError, match=f"repo {world.name}/alpha already exists"):
            client.create_repo(f"{world.name}/alpha")
    assert [m for m, _ in spy.calls] == ["POST"]  # no abort: the existing repo must not be touched
    assert call(world.org, "GET", f"/repos/{world.name}/alpha").json() == before
    client.get_repo(f"{world.name}/alpha")  # its Icechunk repository is still there


@pytest.mark.parametrize("nickname", ["local", "  local  ", "spare"])
def test_duplicate_bucket_nickname(world: World, nickname: str) -> None:
    directory = f"unused-{uuid.uuid4().hex[:8]}"
    with unchanged(world):  # also checks that no directory was made for the refused config
        response = call(
            world.org,
            "POST",
            f"/orgs/{world.name}/buckets",
            json={"nickname": nickname, "platform": "local", "name": directory},
        )
        refused(response, 409, f"a bucket config named {nickname.strip()!r} already exists")
        with pytest.raises(ArraylakeConflictError, match="already exists"):
            Client(world.org.url, token=world.org.token).create_bucket_config(
                org=world.name, nickname=nickname, uri=f"file://{directory}"
            )


def test_renaming_a_bucket_config_to_a_taken_nickname(world: World) -> None:
    with unchanged(world):
        response = call(
            world.org, "PATCH", f"/orgs/{world.name}/buckets/{world.spare_id}", json={"nickname": "local"}
        )
        refused(response, 409, "a bucket config named 'local' already exists")
        with pytest.raises(ArraylakeConflictError, match="already exists"):
            Client(world.org.url, token=world.org.token).modify_bucket_config(
                org=world.name, nickname="spare", new_nickname="local"
            )


def test_deleting_a_bucket_config_in_use_names_the_repos(world: World) -> None:
    with unchanged(world):
        response = call(world.org, "DELETE", f"/orgs/{world.name}/buckets/{world.local_id}")
        refused(response, 409, "bucket config 'local' is used by repos alpha, beta: cannot delete it")
        with pytest.raises(ArraylakeConflictError, match="used by repos alpha, beta"):
            Client(world.org.url, token=world.org.token).delete_bucket_config(
                org=world.name, nickname="local", imsure=True, imreallysure=True
            )


@pytest.mark.parametrize(
    ("change", "what"),
    [({"name": "elsewhere"}, "name"), ({"prefix": "moved"}, "prefix")],
)
def test_moving_a_bucket_config_in_use(world: World, change: dict, what: str) -> None:
    with unchanged(world):
        response = call(world.org, "PATCH", f"/orgs/{world.name}/buckets/{world.local_id}", json=change)
        refused(response, 409, f"used by repos alpha, beta: cannot change its {what}")


# ------------------------------------------------------------------------------- bucket URIs, prefixes

BAD_URIS = [
    "not-a-uri",
    "/absolute/path",
    "ftp://bkt/p",
    "http://bkt/p",
    "s3://",
    "s3:///prefix-only",
    "s3://user:secret@bkt/p",
    "s3://bkt:9000/p",
    "s3://bkt/p?versionId=3",
    "s3://bkt/p#frag",
    "s3://bkt/../escape",
    "file://local/../../other-org",
    "file://../etc",
    "s3://bkt/a//b",
    "s3://bkt/a b",
    "gs://b/p",  # a valid URI, but a bucket name of two characters
    "s3://bkt:0/p",
    "s3://@bkt/p",
]


@pytest.mark.parametrize("uri", BAD_URIS)
def test_malformed_bucket_uri_is_refused_by_the_client_before_any_request(world: World, uri: str) -> None:
    client, spy = spied_client(world.org)
    with unchanged(world), pytest.raises(ValueError):
        client.create_bucket_config(
            org=world.name, nickname="from-uri", uri=uri, extra_config={"region_name": "us-east-1"}
        )
    assert spy.calls == []


@pytest.mark.parametrize(
    "prefix", ["..", "../escape", "a/../../b", "./x", "/abs/path", "/", "a/", "a//b", "a\\b"]
)
def test_bad_repo_prefix(world: World, prefix: str) -> None:
    client, spy = spied_client(world.org)
    with unchanged(world):
        response = call(
            world.org, "POST", f"/orgs/{world.name}/repos", json={"name": "fresh-repo", "prefix": prefix}
        )
        refused(response, 422, "repo prefix")
        with pytest.raises(ValueError, match="repo prefix"):
            client.create_repo(f"{world.name}/fresh-repo", prefix=prefix)
    assert spy.calls == []


@pytest.mark.parametrize(
    ("bucket", "phrase"),
    [
        ({"name": ".."}, "bucket name"),
        ({"name": "../other"}, "bucket name"),
        ({"name": "x/../.."}, "bucket name"),
        ({"name": "..\\..\\x"}, "bucket name"),
        ({"name": "%2e%2e"}, "bucket name"),
        ({"name": "local", "prefix": "../../other-org"}, "bucket prefix"),
        ({"name": "local", "prefix": "/etc"}, "bucket prefix"),
        ({"name": "local", "prefix": "a/../.."}, "bucket prefix"),
        ({"name": "local", "prefix": ".."}, "bucket prefix"),
    ],
)
def test_local_bucket_config_cannot_escape(world: World, bucket: dict, phrase: str) -> None:
    body = {"nickname": "escape", "platform": "local", **bucket}
    with unchanged(world, world.org, world.other):
        refused(call(world.org, "POST", f"/orgs/{world.name}/buckets", json=body), 422, phrase)
        change = {k: v for k, v in bucket.items() if k != "name" or v != "local"}
        response = call(world.org, "PATCH", f"/orgs/{world.name}/buckets/{world.spare_id}", json=change)
        refused(response, 422, phrase)


@pytest.mark.parametrize(
    ("bucket", "phrase"),
    [
        ({"platform": "s3", "name": "bkt"}, "region_name"),
        ({"platform": "s3-compatible", "name": "bkt"}, "endpoint_url"),
        ({"platform": "local", "name": "dir", "extra_config": {"oops": True}}, "unknown extra_config key"),
        ({"platform": "gs", "name": "bkt", "auth_config": {"method": "hmac"}}, "auth_config"),
        ({"platform": "ftp", "name": "bkt"}, "platform"),
        ({"platform": "local", "name": "ab"}, "3 to 63 characters"),
        (
            {
                "platform": "gs",
                "name": "bkt",
                "auth_config": {"method": "hmac", "access_key_id": "AK", "secret_access_key": "s3cr3t-value"},
            },
            "configure the bucket as s3-compatible",
        ),
        (
            {
                "platform": "local",
                "name": "dir",
                "auth_config": {"method": "hmac", "access_key_id": "AK", "secret_access_key": "s3cr3t-value"},
            },
            "their auth method is anonymous",
        ),
        (
            {
                "platform": "s3-compatible",
                "name": "bkt",
                "extra_config": {"endpoint_url": "https://acct.r2.cloudflarestorage.com"},
                "auth_config": {
                    "method": "r2_customer_managed_role",
                    "external_account_id": "acct",
                    "parent_access_key_id": "parent",
                    "parent_secret_access_key": "parent-secret",
                },
            },
            "is not supported by this service yet",
        ),
    ],
)
def test_invalid_bucket_config(world: World, bucket: dict, phrase: str) -> None:
    with unchanged(world):
        body = {"nickname": "invalid", **bucket}
        response = call(world.org, "POST", f"/orgs/{world.name}/buckets", json=body)
        refused(response, 422, phrase)
        assert "s3cr3t-value" not in response.text


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        (
            {"auth_config": {"method": "hmac", "access_key_id": "AK", "secret_access_key": "s3cr3t-value"}},
            "their auth method is anonymous",
        ),
        ({"extra_config": {"region_name": "us-east-1"}}, "local buckets take no extra_config"),
        ({"extra_config": {"nope": 1}}, "unknown extra_config key 'nope'"),
        ({"platform": "s3"}, "region_name"),
        ({"nickname": "ab"}, "3 to 64 characters"),
    ],
)
def test_invalid_bucket_change(world: World, change: dict, phrase: str) -> None:
    with unchanged(world):
        response = call(world.org, "PATCH", f"/orgs/{world.name}/buckets/{world.spare_id}", json=change)
        refused(response, 422, phrase)
        assert "s3cr3t-value" not in response.text


# ------------------------------------------------------------------------------------------- bodies


MALFORMED_JSON = [
    b'{"name": "fresh-repo",',
    b"{name: fresh-repo}",
    b"{'name': 'x'}",
    b'{"name": "x"} trailing',
]


@pytest.mark.parametrize("target", ["repos", "buckets", "patch-bucket", "patch-repo"])
def test_malformed_json_body(world: World, target: str) -> None:
    method, path = {
        "repos": ("POST", f"/orgs/{world.name}/repos"),
        "buckets": ("POST", f"/orgs/{world.name}/buckets"),
        "patch-bucket": ("PATCH", f"/orgs/{world.name}/buckets/{world.spare_id}"),
        "patch-repo": ("PATCH", f"/orgs/{world.name}/alpha"),
    }[target]
    with unchanged(world):
        for content_type in ("application/json", None):
            headers = auth(world.org.token)
            if content_type:
                headers["content-type"] = content_type
            for raw in MALFORMED_JSON:
                refused(call(world.org, method, path, content=raw, headers=headers), 422, "json decode error")


def test_body_that_is_not_utf8(world: World) -> None:
    """Bytes that are not UTF-8 are malformed JSON too: 422 like any other malformed body."""
    headers = {**auth(world.org.token), "content-type": "application/json"}
    with unchanged(world):
        response = call(
            world.org, "POST", f"/orgs/{world.name}/repos", content=b'\xff\xfe{"name"', headers=headers
        )
        refused(response, 422)


@pytest.mark.parametrize("content_type", [True, False])
def test_json_that_is_not_an_object(world: World, content_type: bool) -> None:
    headers = auth(world.org.token)
    if content_type:
        headers["content-type"] = "application/json"
    with unchanged(world):
        for raw in (b"[]", b'[{"name": "fresh-repo"}]', b'"fresh-repo"', b"42", b"true", b"null"):
            for method, path in (
                ("POST", f"/orgs/{world.name}/repos"),
                ("POST", f"/orgs/{world.name}/buckets"),
                ("PATCH", f"/orgs/{world.name}/alpha"),
            ):
                detail = refused(call(world.org, method, path, content=raw, headers=headers), 422)
                assert detail[0]["loc"] == ["body"], detail


HUGE_BODY = json.dumps({"name": "huge-repo", "description": "x" * (1024 * 1024)}).encode()


def test_body_larger_than_1_mib(world: World) -> None:
    with unchanged(world):
        response = call(world.org, "POST", f"/orgs/{world.name}/repos", content=HUGE_BODY)
        assert response.request.headers["content-length"] == str(len(HUGE_BODY))
        refused(response, 413)


def test_streamed_body_larger_than_1_mib(world: World) -> None:
    def chunks() -> Iterator[bytes]:  # no content-length: the limit must hold while streaming too
        for start in range(0, len(HUGE_BODY), 64 * 1024):
            yield HUGE_BODY[start : start + 64 * 1024]

    with unchanged(world):
        response = call(world.org, "POST", f"/orgs/{world.name}/repos", content=chunks())
        assert "content-length" not in response.request.headers
        refused(response, 413)


def test_body_without_content_type_is_accepted(org: Org) -> None:
    """The hosted client sends JSON bodies without a Content-Type header."""
    body = {"nickname": "no-ctype", "platform": "local", "name": "no-ctype-dir"}
    created = call(org, "POST", f"/orgs/{org.name}/buckets", content=json.dumps(body).encode())
    assert "content-type" not in created.request.headers
    assert created.status_code == 201, created.text
    bucket_id = created.json()["id"]

    renamed = call(
        org, "PATCH", f"/orgs/{org.name}/buckets/{bucket_id}", content=b'{"nickname": "still-no-ctype"}'
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["nickname"] == "still-no-ctype"

    repo = call(
        org,
        "POST",
        f"/orgs/{org.name}/repos",
        content=json.dumps({"name": "no-ctype-repo", "metadata": {"k": "v"}}).encode(),
    )
    assert repo.status_code == 201, repo.text
    assert repo.json()["name"] == "no-ctype-repo" and repo.json()["metadata"] == {"k": "v"}
    listed = call(org, "GET", f"/orgs/{org.name}/repos").json()
    assert [r["name"] for r in listed] == ["no-ctype-repo"]


# ------------------------------------------------------------------------------------------- tokens


AUTHENTICATED_ROUTES = [
    ("GET", "/orgs/{org}/repos", {}),
    ("GET", "/repos/{org}/alpha", {}),
    ("POST", "/orgs/{org}/repos", {"json": {"name": "fresh-repo"}}),
    ("DELETE", "/orgs/{org}/alpha", {"params": {"immediate": "true"}}),
    ("POST", "/orgs/{org}/buckets", {"json": {"nickname": "nick", "platform": "local", "name": "dir"}}),
    ("DELETE", "/orgs/{org}/buckets/{spare}", {}),
    ("GET", "/user", {}),
]


@pytest.mark.parametrize(
    ("authorization", "phrase"),
    [
        (None, "missing API token"),
        ("", "missing API token"),
        ("Bearer", "malformed Authorization header"),
        ("Basic dXNlcjpwYXNzd29yZA==", "malformed Authorization header"),
        ("Token ema_0123456789abcdefghijklmnop", "malformed Authorization header"),
        ("ema_0123456789abcdefghijklmnop", "malformed Authorization header"),
        ("Bearer not-a-token", "malformed token: expected an API token"),
        ("Bearer ema_short", "malformed API token"),
        ("Bearer ema_" + "x" * 300, "malformed API token"),
        ("Bearer ema_" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG", "invalid API token"),
    ],
)
def test_missing_malformed_or_unknown_token(world: World, authorization: str | None, phrase: str) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    offered = (authorization or "").split()
    with unchanged(world):
        for method, template, kwargs in AUTHENTICATED_ROUTES:
            path = template.format(org=world.name, spare=world.spare_id)
            response = call(world.org, method, path, headers=headers, **kwargs)
            refused(response, 401, phrase)
            assert response.headers["www-authenticate"] == "Bearer"
            if offered and len(offered[-1]) > 8:  # whatever was offered as a token is not echoed back
                assert offered[-1] not in response.text


def test_unknown_token_through_the_client(world: World) -> None:
    token = "ema_" + secrets.token_urlsafe(32)
    client = Client(world.org.url, token=token)
    with unchanged(world), pytest.raises(ArraylakeAuthenticationError, match="invalid API token") as info:
        client.list_repos(world.name)
    assert info.value.status_code == 401
    assert token not in str(info.value)


@pytest.mark.parametrize(
    ("method", "template", "kwargs"),
    [
        ("GET", "/orgs/{org}/repos", {}),
        ("GET", "/orgs/{org}/repos/paginated", {}),
        ("GET", "/repos/{org}/{repo}", {}),
        ("GET", "/repos/{org}/{repo}/open", {}),
        ("GET", "/orgs/{org}/{repo}/status", {}),
        ("PUT", "/orgs/{org}/{repo}/status", {"json": {"mode": "offline"}}),
        ("PATCH", "/orgs/{org}/{repo}", {"json": {"description": "mine now"}}),
        ("DELETE", "/orgs/{org}/{repo}", {"params": {"immediate": "true"}}),
        ("POST", "/orgs/{org}/repos", {"json": {"name": "planted"}}),
        ("GET", "/orgs/{org}/buckets", {}),
        ("GET", "/orgs/{org}/buckets/{bucket}", {}),
        ("GET", "/orgs/{org}/buckets/{bucket}/repos", {}),
        ("PATCH", "/orgs/{org}/buckets/{bucket}", {"json": {"nickname": "hijacked"}}),
        ("DELETE", "/orgs/{org}/buckets/{spare}", {}),
        ("POST", "/orgs/{org}/buckets/{spare}/default", {}),
        (
            "POST",
            "/orgs/{org}/buckets",
            {"json": {"nickname": "planted", "platform": "local", "name": "dir"}},
        ),
    ],
)
def test_token_of_another_org(world: World, method: str, template: str, kwargs: dict) -> None:
    """Outside an org, nothing of it is visible: 404 as if it did not exist, and no names leak."""
    ids = {"org": world.name, "bucket": world.local_id, "spare": world.spare_id}
    with unchanged(world):
        existing = call(
            world.org, method, template.format(repo="alpha", **ids), token=world.other.token, **kwargs
        )
        detail = refused(existing, 404, f"org {world.name} not found")
        for secret in (*REPOS, world.local_id, world.spare_id, "spare", "local", "project"):
            assert secret not in existing.text
        # an existing and a missing repo answer alike: the response is no oracle for names
        missing = call(
            world.org, method, template.format(repo="no-such-repo", **ids), token=world.other.token, **kwargs
        )
        assert missing.status_code == 404 and missing.json()["detail"] == detail


def test_token_of_another_org_through_the_client(world: World) -> None:
    client = Client(world.org.url, token=world.other.token)
    with unchanged(world):
        for action in (
            lambda: client.get_repo_object(f"{world.name}/alpha"),
            lambda: client.list_repos(world.name),
            lambda: client.list_bucket_configs(world.name),
            lambda: client.delete_repo(f"{world.name}/alpha", imsure=True, imreallysure=True),
        ):
            with pytest.raises(ArraylakeNotFoundError, match=f"org {world.name} not found") as info:
                action()
            assert "alpha" not in str(info.value).replace(f"/{world.name}/alpha", "")


# ------------------------------------------------------------------------------------- query parameters


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("not json", "filter_metadata is not valid JSON"),
        ("{'a': 1}", "filter_metadata is not valid JSON"),
        ("[1, 2]", "filter_metadata must be a JSON object"),
        ('"alpha"', "filter_metadata must be a JSON object"),
        ("42", "filter_metadata must be a JSON object"),
        ('{"a": {"b": 1}}', "must be a scalar or a list of scalars"),
        ('{"a": [[1]]}', "must be a scalar or a list of scalars"),
        ('{"a": NaN}', "NaN"),
        ('{"": 1}', "metadata keys must have 1 to 128 characters"),
    ],
)
def test_bad_filter_metadata(world: World, raw: str, phrase: str) -> None:
    with unchanged(world):
        response = call(
            world.org, "GET", f"/orgs/{world.name}/repos/paginated", params={"filter_metadata": raw}
        )
        refused(response, 422, phrase)


def test_bad_filter_metadata_through_the_client(world: World) -> None:
    client = Client(world.org.url, token=world.org.token)
    with pytest.raises(ArraylakeValidationError, match="must be a scalar or a list of scalars"):
        client.list_repos(world.name, filter_metadata={"project": {"nested": "alpha"}})
    assert [r.name for r in client.list_repos(world.name, filter_metadata={"project": "alpha"})] == ["alpha"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "first"}, "page"),
        ({"page": 10**7}, "page"),
        ({"size": 0}, "size"),
        ({"size": -5}, "size"),
        ({"size": 100000}, "size"),
        ({"size": 1001}, "size"),
        ({"size": "1.5"}, "size"),
        ({"include_ghosts": "maybe"}, "include_ghosts"),
        ({"after": "x" * 129}, "after"),
    ],
)
def test_bad_pagination(world: World, params: dict, field: str) -> None:
    with unchanged(world):
        response = call(world.org, "GET", f"/orgs/{world.name}/repos/paginated", params=params)
        detail = refused(response, 422, field)
        assert any(e["loc"] == ["query", field] for e in detail)


def test_bad_pagination_through_the_client(world: World) -> None:
    client = Client(world.org.url, token=world.org.token)
    with pytest.raises(
        ArraylakeValidationError, match=r"query\.page: Input should be greater than or equal to 1"
    ):
        client.list_repos_paginated(world.name, page=0)
    with pytest.raises(ArraylakeValidationError, match=r"query\.size: Input should be less than or equal to"):
        client.list_repos_paginated(world.name, page_size=100000)


def test_a_cursor_cannot_walk_ghosts(world: World) -> None:
    with unchanged(world):
        response = call(
            world.org,
            "GET",
            f"/orgs/{world.name}/repos/paginated",
            params={"after": "a", "include_ghosts": True},
        )
        assert response.status_code == 422 and "after cannot be combined with include_ghosts" in response.text


# ------------------------------------------------------------------------------------- repo creation


def test_create_repo_in_an_org_without_default_bucket(world: World, bare: Org) -> None:
    client, spy = spied_client(bare)
    with unchanged(world, bare):
        for mode in ("register", "create"):
            response = call(
                bare, "POST", f"/orgs/{bare.name}/repos", json={"name": "first", "create_mode": mode}
            )
            refused(response, 422, f"org {bare.name} has no default bucket config")
        with pytest.raises(ArraylakeValidationError, match="has no default bucket config"):
            client.create_repo(f"{bare.name}/first")
    assert [m for m, _ in spy.calls] == ["POST"]
    assert state(bare)["repos"] == [] and state(bare)["buckets"] == []


def test_create_repo_of_kind_v1_only_by_registering(world: World) -> None:
    client, spy = spied_client(world.org)
    path = f"/orgs/{world.name}/repos"
    with unchanged(world):
        for mode in ("create", "import"):
            response = call(
                world.org, "POST", path, json={"name": "legacy", "kind": "v1", "create_mode": mode}
            )
            refused(response, 422, "V1 repos are created with create_mode 'register'")
        response = call(world.org, "POST", path, json={"name": "legacy", "kind": "v1", "prefix": "mine"})
        refused(response, 422, "V1 repos take no prefix")
        response = call(world.org, "POST", path, json={"name": "legacy", "kind": "zarr2"})
        refused(response, 422, "kind")
        with pytest.raises(ValueError, match="V1 repos take no prefix"):
            client.create_repo(f"{world.name}/legacy", kind="v1", prefix="mine")
    assert spy.calls == []


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"name": "fresh-repo", "create_mode": "import"}, "needs the prefix of the existing"),
        ({"name": "fresh-repo", "create_mode": "import", "prefix": "not/there"}, "no Icechunk repository"),
        ({"name": "fresh-repo", "create_mode": "clone"}, "create_mode"),
        ({"name": "fresh-repo", "metadata": {"a": {"b": 1}}}, "metadata"),
        ({"name": "fresh-repo", "metadata": {"k": "v" * 5000}}, "larger than 4096 bytes"),
        ({"name": "fresh-repo", "description": "d" * 256}, "description"),
        ({"name": "fresh-repo", "prefix": ""}, "repo prefix must not be empty"),
        ({"name": "fresh-repo", "bucket_nickname": "ab"}, "bucket nickname"),
        ({"description": "no name"}, "name"),
        ({"name": 42}, "name"),
    ],
)
def test_invalid_repo_body(world: World, body: dict, phrase: str) -> None:
    with unchanged(world):
        refused(call(world.org, "POST", f"/orgs/{world.name}/repos", json=body), 422, phrase)


@pytest.mark.parametrize(
    ("change", "status", "phrase"),
    [
        ({"add_metadata": {"project": "taken"}}, 409, "metadata key 'project' already exists"),
        ({"update_metadata": {"big": "v" * 5000}}, 422, "larger than 4096 bytes"),
        ({"add_metadata": {"": 1}}, 422, "metadata keys must have 1 to 128 characters"),
        ({"update_metadata": {"nested": {"a": 1}}}, 422, "update_metadata"),
        ({"remove_metadata": "project"}, 422, "remove_metadata"),
        ({"description": "d" * 256}, 422, "description"),
    ],
)
def test_invalid_repo_change(world: World, change: dict, status: int, phrase: str) -> None:
    with unchanged(world):
        refused(call(world.org, "PATCH", f"/orgs/{world.name}/alpha", json=change), status, phrase)


@pytest.mark.parametrize(
    ("body", "phrase"),
    [({"mode": "sleeping"}, "mode"), ({"mode": "offline", "message": "m" * 1001}, "message"), ({}, "mode")],
)
def test_invalid_status_change(world: World, body: dict, phrase: str) -> None:
    with unchanged(world):
        refused(call(world.org, "PUT", f"/orgs/{world.name}/alpha/status", json=body), 422, phrase)


@pytest.mark.parametrize("params", [{"immediate": "maybe"}, {"retain_data": "perhaps"}, {"immediate": ""}])
def test_bad_delete_flags_delete_nothing(world: World, params: dict) -> None:
    with unchanged(world):
        refused(call(world.org, "DELETE", f"/orgs/{world.name}/alpha", params=params), 422, *params)


def test_metadata_with_nan_is_refused(world: World) -> None:
    # Python's json module (used by the service) reads NaN; the service must still refuse it
    raw = b'{"name": "fresh-repo", "metadata": {"x": NaN}}'
    with unchanged(world):
        response = call(world.org, "POST", f"/orgs/{world.name}/repos", content=raw)
        refused(response, 422, "NaN and infinity are not JSON")
        response = call(
            world.org, "PATCH", f"/orgs/{world.name}/alpha", content=b'{"add_metadata": {"y": Infinity}}'
        )
        refused(response, 422, "NaN and infinity are not JSON")


# ------------------------------------------------------------------------------------------ deletion


@pytest.mark.parametrize(
    "confirmations", [{}, {"imsure": True}, {"imreallysure": True}, {"imsure": False, "imreallysure": True}]
)
def test_delete_repo_needs_both_confirmations(world: World, confirmations: dict) -> None:
    client, spy = spied_client(world.org)
    with unchanged(world):
        with pytest.raises(ValueError, match="pass imsure=True and imreallysure=True"):
            client.delete_repo(f"{world.name}/alpha", **confirmations)
        with pytest.raises(ValueError, match="pass imsure=True and imreallysure=True"):
            client.delete_bucket_config(org=world.name, nickname="spare", **confirmations)
    assert spy.calls == []
    assert call(world.org, "GET", f"/repos/{world.name}/alpha").status_code == 200
