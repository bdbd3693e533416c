"""The authorization matrix: every endpoint of the service, asked by every kind of principal, on SQLite and
PostgreSQL, answers the exact status the access policy (``arraylake.server.policy``) prescribes.

Each endpoint is declared with what it requires (nothing, any principal, an org-level action, the right to
see the org's repos, or a repo action); the expected status of every (endpoint, principal) case is derived
from that and from the policy's rules, restated here independently of the service's code:

* no valid token: 401 (public endpoints answer as usual);
* org-level actions: not a member of the org: 404; a member whose role lacks the action: 403;
* repo actions: nothing in the org (no membership, no grant there): 404; only grants on other repos of the
  org: 404 (it may not learn which repos exist); a member, or a grantee of the repo, without the action: 403;
* listings show only what the caller may see;
* the service's operators' endpoints: none of the principals is an operator, so 403 for all.

Every mutating request targets a resource made for its case (or, for refused cases, one shared by the
refused cases of that endpoint), and each case checks the effect: done when allowed, nothing changed when
refused. Refusals outside the org (401, 404) must not contain the org's repo or bucket names or ids beyond
what the request itself sent. A final test checks that the table covers every route of the application and
reports the matrix's size.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import icechunk
import pytest

from arraylake.server.app import create_app
from tests.support.matrix import (
    AUTHOR,
    SPECS,
    V1_GROUP,
    V1_TAG,
    Principal,
    Spec,
    World,
    build_world,
    unique,
)
from tests.support.service import ArraylakeService
from tests.support.users import PASSWORD, csrf_of

# ------------------------------------------------------------------------------------------- the policy

VIEW_ORG, LIST_REPOS, CREATE_REPO = "view the org", "list all repos", "create repos"
READ_BUCKETS, MANAGE_BUCKETS, MANAGE_MEMBERS = "read buckets", "manage buckets", "manage members"
VIEW_COMPUTE, MANAGE_COMPUTE = "view compute services", "manage compute services"
VIEW_AUDIT, MANAGE_MAINTENANCE = "view the audit log", "manage maintenance"
READ, WRITE, MANAGE, FLUX, SYNC = (
    "CAN_READ",
    "CAN_WRITE",
    "CAN_MANAGE_USERS",
    "CAN_READ_WITH_FLUX",
    "CAN_SYNC",
)

_MEMBER = {VIEW_ORG, VIEW_COMPUTE}
_READER = _MEMBER | {LIST_REPOS, READ_BUCKETS}
ORG_RIGHTS: dict[str, set[str]] = {
    "admin": _READER
    | {CREATE_REPO, MANAGE_BUCKETS, MANAGE_MEMBERS, MANAGE_COMPUTE, VIEW_AUDIT, MANAGE_MAINTENANCE},
    "repo_writer": _READER | {CREATE_REPO},
    "repo_reader": _READER,
    "member": _MEMBER,
}
REPO_RIGHTS: dict[str, set[str]] = {
    "admin": {READ, WRITE, MANAGE, FLUX, SYNC},
    "repo_writer": {READ, FLUX, WRITE, SYNC},
    "repo_reader": {READ, FLUX},
    "member": set(),
}
IMPLIED = {WRITE: {READ}, MANAGE: {READ}, SYNC: {READ}, FLUX: {READ}}
ORG_ACTION_ROLES = {
    "CAN_MANAGE_USERS": {"admin"},
    "CAN_WRITE_REPOS": {"admin", "repo_writer"},
    "CAN_READ_REPOS": {"admin", "repo_writer", "repo_reader"},
    "CAN_READ_REPOS_WITH_FLUX": {"admin", "repo_writer", "repo_reader"},
}


def repo_rights(spec: Spec, target: str) -> set[str]:
    """What the principal may do on a repo: from its role, plus its grants on the "granted" repos."""
    rights = set(REPO_RIGHTS[spec.role]) if spec.role else set()
    if target == "granted":
        for action in spec.grants:
            rights |= {action, *IMPLIED.get(action, set())}
    return rights


def in_org(spec: Spec) -> bool:
    """A member of the target org, or a grantee of one of its repos (all grants are in the target org)."""
    return spec.role is not None or bool(spec.grants)


def lists_all(spec: Spec) -> bool:
    return spec.role is not None and LIST_REPOS in ORG_RIGHTS[spec.role]


# ---------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Public:
    """No token needed; any Authorization header is ignored."""

    status: int


@dataclass(frozen=True)
class Signed:
    """Any valid principal (``users_only``: API clients get 403)."""

    users_only: bool = False


@dataclass(frozen=True)
class OrgAction:
    action: str


@dataclass(frozen=True)
class Listing:
    """The org's repos that the caller may see: members and grantees."""


@dataclass(frozen=True)
class SelfCheck:
    """A permission check about oneself: anyone with something in the org."""


@dataclass(frozen=True)
class RepoAction:
    action: str


@dataclass(frozen=True)
class Operators:
    """The service's operators only (the users its ``operators`` setting lists): none of the matrix's
    principals is one, so every valid principal gets 403."""


Rule = Public | Signed | OrgAction | Listing | SelfCheck | RepoAction | Operators


def outcome(rule: Rule, spec: Spec, target: str, success: int) -> tuple[int, str]:
    """The expected status, and why: ``ok``, ``public``, ``unauthenticated``, ``forbidden``, ``org`` (org not
    found) or ``repo`` (repo not found)."""
    if isinstance(rule, Public):
        return rule.status, "public"
    if not spec.valid:
        return 401, "unauthenticated"
    ok = (success, "ok")
    forbidden = (403, "forbidden")
    if isinstance(rule, Signed):
        return forbidden if rule.users_only and spec.kind != "user" else ok
    if isinstance(rule, Operators):
        return forbidden
    if isinstance(rule, OrgAction):
        if spec.role is None:
            return 404, "org"
        return ok if rule.action in ORG_RIGHTS[spec.role] else forbidden
    if isinstance(rule, Listing | SelfCheck):
        return ok if in_org(spec) else (404, "org")
    if not in_org(spec):
        return 404, "org"
    rights = repo_rights(spec, target)
    if rule.action in rights:
        return ok
    if not rights and spec.role is None:
        return 404, "repo"
    return forbidden


# ------------------------------------------------------------------------------------------ endpoints


@dataclass
class Prep:
    """A case's request and its checks."""

    values: dict[str, str] = field(default_factory=dict)
    """Path parameters (``org`` is the target org unless given)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    after: Callable[[httpx.Response, bool], None] | None = None
    """Checks the response and the effect; its flag: whether the request was allowed."""
    cleanup: Callable[[], None] | None = None


Prepare = Callable[[World, Principal, str], Prep]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    rule: Rule
    success: int = 200
    prepare: Prepare | None = None
    fresh: bool = False
    """``prepare`` makes resources: refused cases share them (refusals change nothing)."""

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def body(response: httpx.Response) -> Any:
    return response.json()


def fixed_repo(w: World, target: str) -> str:
    return w.granted if target == "granted" else w.plain


def target_repo(w: World, p: Principal, target: str) -> dict[str, Any]:
    """A fresh repo; for "granted" cases the principal holds its grants on it."""
    return w.fresh_repo(p if target == "granted" else None)


def expected_orgs(w: World, p: Principal) -> list[str]:
    orgs = list(w.created_orgs[p.name])
    if p.spec.role is not None:
        orgs.append(w.name)
    if p.spec.other_org_admin:
        orgs.append(w.other.name)
    return sorted(orgs)


# public ------------------------------------------------------------------------------------------


def login_form(w: World, p: Principal, target: str) -> Prep:
    email = w.principals["user_grant_only"].email
    form = w.http.get("/login")  # its cookie stays for the post, which must carry the form's CSRF token

    def after(response: httpx.Response, allowed: bool) -> None:
        assert response.headers["location"] == "/device"

    data = {"email": email, "password": PASSWORD, "next": "/device", "csrf": csrf_of(form.text)}
    return Prep(kwargs={"data": data}, after=after)


def token_form(w: World, p: Principal, target: str) -> Prep:
    data = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": "nope"}

    def after(response: httpx.Response, allowed: bool) -> None:
        assert body(response)["error"] == "invalid_grant"

    return Prep(kwargs={"data": {**data, "client_id": "arraylake-python"}}, after=after)


def form(data: dict[str, str]) -> Prepare:
    return lambda w, p, target: Prep(kwargs={"data": data})


def redirect_to_login(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        assert response.headers["location"].startswith("/login?next=")

    return Prep(after=after)


def device_form(w: World, p: Principal, target: str) -> Prep:
    prep = redirect_to_login(w, p, target)
    prep.kwargs["data"] = {"user_code": "ABCD-EFGH", "decision": "approve", "csrf": "x"}
    return prep


# signed ------------------------------------------------------------------------------------------


def whoami(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["id"] == p.id and body(response)["email"] == p.email

    return Prep(after=after)


def my_orgs(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert sorted(o["name"] for o in body(response)) == expected_orgs(w, p)

    return Prep(after=after)


def new_org(w: World, p: Principal, target: str) -> Prep:
    name = unique("made")

    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["name"] == name
            w.created_orgs[p.name].append(name)
            assert w.request("GET", f"/orgs/{name}", p.headers).status_code == 200
        else:  # the name is still free
            creator = w.principals["user_writer"]
            assert w.request("POST", "/orgs", creator.headers, json={"name": name}).status_code == 201
            w.created_orgs[creator.name].append(name)

    return Prep(kwargs={"json": {"name": name}}, after=after)


# org ---------------------------------------------------------------------------------------------


def get_org(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["name"] == w.name

    return Prep(after=after)


def list_members(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            roles = {m["principal_id"]: m["role"] for m in body(response)}
            assert roles[w.bystander.id] == "repo_reader" and roles[p.id] == p.spec.role

    return Prep(after=after)


def non_member_client(w: World, p: Principal, target: str) -> Prep:
    client_id = w.fresh_client()["client"]["_id"]
    w.admin_ok("DELETE", f"/orgs/{w.name}/members/{client_id}", 204)

    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["principal_id"] == client_id and body(response)["role"] == "repo_reader"
            assert w.members()[client_id] == "repo_reader"
        else:
            assert client_id not in w.members()

    return Prep(kwargs={"json": {"principal": client_id, "role": "repo_reader"}}, after=after)


def member_client(change: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        client_id = w.fresh_client()["client"]["_id"]

        def after(response: httpx.Response, allowed: bool) -> None:
            role = w.members().get(client_id)
            if change == "role":
                assert role == ("repo_reader" if allowed else "member")
                if allowed:
                    assert body(response)["role"] == "repo_reader"
            else:
                assert role == (None if allowed else "member")

        kwargs = {"json": {"role": "repo_reader"}} if change == "role" else {}
        return Prep({"who": client_id}, kwargs, after)

    return prepare


def lookup_token(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["client_id"] == w.bystander.id

    return Prep(kwargs={"params": {"token": w.bystander_token}}, after=after)


def check_self(w: World, p: Principal, target: str) -> Prep:
    params = {"principal_id": p.id or str(uuid.uuid4()), "resource": f"{w.name}/{w.granted}", "action": READ}

    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response) == {"has_permission": READ in repo_rights(p.spec, "granted")}

    return Prep(kwargs={"params": params}, after=after)


def check_other(w: World, p: Principal, target: str) -> Prep:
    params = {"principal_id": w.bystander.id, "resource": w.name, "action": "CAN_READ_REPOS"}

    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response) == {"has_permission": True}

    return Prep(kwargs={"params": params}, after=after)


def list_clients(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert w.bystander.id in {c["_id"] for c in body(response)}
            assert w.bystander_token not in response.text  # never the tokens themselves

    return Prep(after=after)


def new_client(w: World, p: Principal, target: str) -> Prep:
    name = unique("made-client")

    def after(response: httpx.Response, allowed: bool) -> None:
        listed = w.admin_ok("GET", f"/orgs/{w.name}/api-clients")
        if allowed:
            made = body(response)
            assert made["client"]["name"] == name and made["client"]["role"] == "member"
            assert made["token"]["token"].startswith("ema_")
            assert w.members()[made["client"]["_id"]] == "member"
        else:
            assert name not in {c["name"] for c in listed}

    return Prep(kwargs={"json": {"name": name, "role": "member"}}, after=after)


def get_client(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["_id"] == w.bystander.id

    return Prep({"client_id": w.bystander.id}, after=after)


def fresh_client_prep(what: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        made = w.fresh_client()
        client_id, token_id = made["client"]["_id"], made["token"]["id"]

        def after(response: httpx.Response, allowed: bool) -> None:
            info = w.api_client(client_id)
            if what == "revoke client":
                assert (info["disabled_at"] is not None) is allowed
            elif what == "new token":
                assert len(info["tokens"]) == (2 if allowed else 1)
                if allowed:
                    assert body(response)["client_id"] == client_id
            else:
                assert (info["tokens"][0]["revoked_at"] is not None) is allowed

        kwargs = {"json": {"name": "rotated"}} if what == "new token" else {}
        return Prep({"client_id": client_id, "token_id": token_id}, kwargs, after)

    return prepare


# buckets -----------------------------------------------------------------------------------------


def new_bucket(w: World, p: Principal, target: str) -> Prep:
    nickname = unique("made-bucket")

    def after(response: httpx.Response, allowed: bool) -> None:
        found = w.admin_ok("GET", f"/orgs/{w.name}/buckets", params={"nickname": nickname})
        assert len(found) == (1 if allowed else 0)

    def cleanup() -> None:
        for bucket in w.admin_ok("GET", f"/orgs/{w.name}/buckets", params={"nickname": nickname}):
            w.drop_bucket(bucket["id"])

    kwargs = {"json": {"nickname": nickname, "platform": "local", "name": nickname}}
    return Prep(kwargs=kwargs, after=after, cleanup=cleanup)


def list_buckets(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert set(w.bucket_ids) <= {b["nickname"] for b in body(response)}

    return Prep(after=after)


def get_bucket(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["nickname"] == w.vault

    return Prep({"bucket_id": w.bucket_ids[w.vault]}, after=after)


def fresh_bucket_prep(what: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        made = w.fresh_bucket()
        bucket_id, renamed = made["id"], unique("renamed")
        local = w.bucket_ids["local"]

        def after(response: httpx.Response, allowed: bool) -> None:
            found = w.admin("GET", f"/orgs/{w.name}/buckets/{bucket_id}")
            if what == "modify":
                assert found.json()["nickname"] == (renamed if allowed else made["nickname"])
            elif what == "delete":
                assert found.status_code == (404 if allowed else 200)
            else:
                assert w.default_bucket() == (bucket_id if allowed else local)

        def cleanup() -> None:
            if w.default_bucket() != local:
                w.admin_ok("POST", f"/orgs/{w.name}/buckets/{local}/default", 204)
            w.drop_bucket(bucket_id)

        kwargs = {"json": {"nickname": renamed}} if what == "modify" else {}
        return Prep({"bucket_id": bucket_id}, kwargs, after, cleanup)

    return prepare


def bucket_repos(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            names = [r["name"] for r in body(response)]
            assert names == sorted({w.granted, w.plain} if lists_all(p.spec) else visible_grants(w, p))

    return Prep({"bucket_id": w.bucket_ids["local"]}, after=after)


def bucket_credentials(access: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        def after(response: httpx.Response, allowed: bool) -> None:
            if allowed:
                assert body(response) is None  # a local bucket needs no credentials

        return Prep({"bucket_id": w.bucket_ids["local"]}, {"params": {"access": access}}, after)

    return prepare


def check_bucket(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            report = body(response)
            assert report["ok"] and report["cleaned_up"], report  # the local bucket's directory works

    return Prep({"bucket_id": w.bucket_ids["local"]}, after=after)


def policies(w: World) -> dict[str, bool]:
    """Bucket id -> public, of the org's virtual chunk access policies."""
    listed = w.admin_ok("GET", POLICIES.format(org=w.name), params={"size": 1000})
    return {p["bucket_id"]: p["public"] for p in listed["items"]}


def list_policies(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert w.bucket_ids[w.vault] in {item["bucket_id"] for item in body(response)["items"]}

    return Prep(after=after)


def storage_binding(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            found = body(response)
            assert found["org"] == w.name and len(found["aws_external_id"]) == 32

    return Prep(after=after)


def policy_prep(what: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        bucket_id = w.fresh_bucket()["id"]
        request = {"bucket_id": bucket_id, "subprefix": ""}
        if what == "delete":
            w.admin_ok("PUT", POLICIES.format(org=w.name), json=request)

        def after(response: httpx.Response, allowed: bool) -> None:
            held = bucket_id in policies(w)
            assert held is (allowed if what == "put" else not allowed)
            if allowed and what == "put":
                assert body(response)["bucket_id"] == bucket_id

        def cleanup() -> None:
            response = w.admin("DELETE", POLICIES.format(org=w.name), json=request)
            assert response.status_code in (204, 404), response.text
            w.drop_bucket(bucket_id)

        return Prep(kwargs={"json": request}, after=after, cleanup=cleanup)

    return prepare


# grants ------------------------------------------------------------------------------------------


def list_grants(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            held = {g["principal_id"]: sorted(g["actions"]) for g in body(response)}
            if target == "granted":
                expected = {
                    w.principals[n].id: sorted(w.principals[n].spec.grants)
                    for n in ("user_member_granted", "user_grant_only")
                }
                assert held == expected
            else:
                assert held == {}

    return Prep({"repo": fixed_repo(w, target)}, after=after)


def grant_prep(what: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        repo = target_repo(w, p, target)["name"]
        if what == "revoke":
            w.grant(repo, w.bystander.id, [WRITE])

        def after(response: httpx.Response, allowed: bool) -> None:
            held = w.grants_on(repo).get(w.bystander.id)
            if what == "grant":
                assert held == ([WRITE] if allowed else None)
            else:
                assert held == (None if allowed else [WRITE])

        kwargs = {"json": {"principal": w.bystander.id, "actions": [WRITE]}} if what == "grant" else {}
        return Prep({"repo": repo, "grantee": w.bystander.id}, kwargs, after, lambda: w.drop_repo(repo))

    return prepare


# repos -------------------------------------------------------------------------------------------


def visible_grants(w: World, p: Principal) -> set[str]:
    return {w.granted, w.v1["granted"].repo} if p.spec.grants else set()


def fixed_repos(w: World) -> set[str]:
    return {w.granted, w.plain, *(seed.repo for seed in w.v1.values())}


def deletion_progress(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response) == {"repo_id": "0" * 24, "in_progress": False, "removed_objects": 0}

    return Prep({"repo_id": "0" * 24}, after=after)


def listing(paginated: bool) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        params = {"size": 1000, "include_ghosts": "true"} if paginated else {}

        def names(response: httpx.Response) -> list[str]:
            found = body(response)
            items = found["items"] if paginated else found
            if paginated:
                assert found["total"] == len(items)
            return [r["name"] for r in items]

        def after(response: httpx.Response, allowed: bool) -> None:
            if not allowed:
                return
            if lists_all(p.spec):  # everything: what the org's admin sees, the fixed repos and fresh ones
                everything = names(
                    w.admin("GET", f"/orgs/{w.name}/repos{'/paginated' * paginated}", params=params)
                )
                assert fixed_repos(w) <= set(everything)
                assert all(n in fixed_repos(w) or n.startswith("tmp-") for n in everything)
                assert names(response) == everything
            else:
                assert names(response) == sorted(visible_grants(w, p))

        return Prep(kwargs={"params": params}, after=after)

    return prepare


def new_repo(w: World, p: Principal, target: str) -> Prep:
    name = unique("tmp")

    def after(response: httpx.Response, allowed: bool) -> None:
        assert w.repo_status(name) == (200 if allowed else 404)
        if allowed:
            assert body(response)["name"] == name and body(response)["created_by"] == p.id

    kwargs = {"json": {"name": name, "bucket_nickname": w.scratch}}
    return Prep(kwargs=kwargs, after=after, cleanup=lambda: w.drop_repo(name))


def import_repo(w: World, p: Principal, target: str) -> Prep:
    name, prefix = unique("tmp"), unique("existing")
    w.icechunk_repo(prefix)

    def after(response: httpx.Response, allowed: bool) -> None:
        assert w.repo_status(name) == (200 if allowed else 404)
        if allowed:
            assert body(response)["prefix"] == prefix

    kwargs = {"json": {"name": name, "prefix": prefix, "bucket_nickname": w.scratch}}
    return Prep(kwargs=kwargs, after=after, cleanup=lambda: w.drop_repo(name))


def read_repo(check: Callable[[World, Principal, str, Any], None]) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        repo = fixed_repo(w, target)

        def after(response: httpx.Response, allowed: bool) -> None:
            if allowed:
                check(w, p, repo, body(response))

        return Prep({"repo": repo}, after=after)

    return prepare


def with_params(prepare: Prepare, params: dict[str, str]) -> Prepare:
    def wrapped(w: World, p: Principal, target: str) -> Prep:
        prep = prepare(w, p, target)
        prep.kwargs["params"] = params
        return prep

    return wrapped


def check_repo(w: World, p: Principal, repo: str, found: Any) -> None:
    assert found["name"] == repo and found["org"] == w.name


def check_open(w: World, p: Principal, repo: str, found: Any) -> None:
    assert found["principal_id"] == p.id and found["repo_bucket"]["nickname"] == "local"


def check_null(w: World, p: Principal, repo: str, found: Any) -> None:
    assert found is None


def check_online(w: World, p: Principal, repo: str, found: Any) -> None:
    assert found["mode"] == "online"


def container_refresh(w: World, p: Principal, target: str) -> Prep:
    """A fresh repo whose Icechunk config declares the vault (which the org's policy covers) as a
    virtual chunk container; the request refreshes that container's credentials."""
    repo = target_repo(w, p, target)
    vault = w.admin_ok("GET", f"/orgs/{w.name}/buckets/{w.bucket_ids[w.vault]}")
    vault_path = vault["extra_config"]["local_path"]
    url = f"file://{vault_path}/"
    config = icechunk.RepositoryConfig.default()
    store = icechunk.local_filesystem_store(vault_path)
    config.set_virtual_chunk_container(icechunk.VirtualChunkContainer(url, store))
    storage = icechunk.local_filesystem_storage(f"{w.scratch_path}/{repo['prefix']}")
    icechunk.Repository.create(storage, config=config)

    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            found = body(response)
            assert found["bucket_nickname"] == w.vault and found["org"] == w.name
            assert found["credentials"] is None  # local buckets need none

    name = repo["name"]
    return Prep({"repo": name}, {"params": {"url_prefix": url}}, after, lambda: w.drop_repo(name))


def activate(w: World, p: Principal, target: str) -> Prep:
    reserved = w.fresh_repo(mode="create")
    w.icechunk_repo(reserved["prefix"])
    name = reserved["name"]

    def after(response: httpx.Response, allowed: bool) -> None:
        assert w.repo_status(name) == (200 if allowed else 404)
        if allowed:
            assert body(response)["principal_id"] == p.id

    return Prep({"repo": name}, after=after, cleanup=lambda: w.drop_repo(name))


def change_repo(what: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        name = target_repo(w, p, target)["name"]
        if what == "restore":
            w.admin_ok("DELETE", f"/orgs/{w.name}/{name}", 204)

        def after(response: httpx.Response, allowed: bool) -> None:
            found = w.admin("GET", f"/repos/{w.name}/{name}")
            if what == "modify":
                assert found.json()["description"] == ("changed" if allowed else None)
            elif what == "status":
                assert found.json()["status"]["mode"] == ("maintenance" if allowed else "online")
            elif what == "restore":
                assert found.status_code == (200 if allowed else 404)
            else:
                assert found.status_code == (404 if allowed else 200)

        kwargs: dict[str, Any] = {
            "modify": {"json": {"description": "changed"}},
            "status": {"json": {"mode": "maintenance", "message": "matrix"}},
        }.get(what, {})
        return Prep({"repo": name}, kwargs, after, lambda: w.drop_repo(name))

    return prepare


# V1 repos ----------------------------------------------------------------------------------------


def v1_repo(w: World, target: str) -> str:
    return w.v1["granted" if target == "granted" else "plain"].repo


def seeded(w: World, repo: str) -> Any:
    return w.v1_seed(repo)


def v1_write(
    make: Callable[[World, str, str], tuple[dict[str, str], dict[str, Any]]],
    done: Callable[[World, str, str, httpx.Response], bool],
) -> Prepare:
    """A write into a fresh session of a fixed V1 repo: ``make`` gives the path values and request arguments
    for the session; ``done`` tells whether the write took effect."""

    def prepare(w: World, p: Principal, target: str) -> Prep:
        repo = v1_repo(w, target)
        session = w.v1_session(repo, message=unique("matrix"))
        values, kwargs = make(w, repo, session)

        def after(response: httpx.Response, allowed: bool) -> None:
            assert done(w, repo, session, response) is allowed

        return Prep({"repo": repo, **values}, kwargs, after)

    return prepare


def in_session(session: str, **more: str) -> dict[str, Any]:
    return {"params": {"session_id": session, **more}}


def commit_body(w: World, repo: str, session: str, message: str) -> dict[str, Any]:
    return {
        "session_id": session,
        "session_start_time": "2026-01-01T00:00:00Z",
        "parent_commit": seeded(w, repo).commit,
        "commit_time": "2026-01-01T00:00:00Z",
        "author_email": AUTHOR,
        "message": message,
    }


def messages(w: World, repo: str) -> set[str]:
    return {c["message"] for c in w.admin_ok("GET", f"/repos/{w.name}/{repo}/commits", params={"limit": 0})}


def branches(w: World, repo: str) -> dict[str, str]:
    return {b["_id"]: b["commit_id"] for b in w.admin_ok("GET", f"/repos/{w.name}/{repo}/branches")}


def tags(w: World, repo: str) -> set[str]:
    return {t["label"] for t in w.admin_ok("GET", f"/repos/{w.name}/{repo}/tags")}


def active(w: World, repo: str) -> dict[str, dict[str, Any]]:
    return {s["_id"]: s for s in w.admin_ok("GET", f"/repos/{w.name}/{repo}/sessions")}


def v1_new_commit(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    w.v1_set(repo, session, ["meta/root/c.group.json"])
    return {}, {"json": commit_body(w, repo, session, f"by {session}")}


def v1_new_branch(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    w.v1_set(repo, session, ["meta/root/b.group.json"])
    commit = w.v1_commit(repo, session)
    return {}, {"json": {"branch": session, "new_commit": commit, "new_branch": True}}


def v1_old_branch(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    change = {"branch": session, "new_commit": seeded(w, repo).commit, "new_branch": True}
    w.admin_ok("PUT", f"/repos/{w.name}/{repo}/branches", json=change)
    return {}, {"params": {"name": session}}


def v1_new_tag(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    return {}, {"json": {"label": session, "commit_id": seeded(w, repo).commit, "author_email": AUTHOR}}


def v1_old_tag(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    w.admin_ok("PUT", f"/repos/{w.name}/{repo}/tags", 201, json=v1_new_tag(w, repo, session)[1]["json"])
    return {}, {"params": {"name": session}}


def v1_rebase(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    w.v1_set(repo, session, ["meta/root/r.group.json"])
    return {}, in_session(session, branch_name="main", base_commit=seeded(w, repo).commit)


def v1_new_session(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    body = {
        "branch": "main",
        "base_commit": seeded(w, repo).commit,
        "author_email": AUTHOR,
        "message": session,
    }
    return {}, {"json": body}


def v1_extend(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    return {"session_id": session}, {"json": {"session_id": session, "expires_in": "P3D"}}


def v1_this_session(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    return {"session_id": session}, {}


def lives_long(w: World, repo: str, session: str, response: httpx.Response) -> bool:
    found = w.admin_ok("GET", f"/repos/{w.name}/{repo}/sessions/{session}")
    start, end = (datetime.fromisoformat(found[k]) for k in ("start_time", "expiration"))
    return end - start > timedelta(days=2)


def v1_docs(paths: list[str], *, written: bool = False) -> Callable[..., Any]:
    """Arguments of a request on metadata documents in the session: their bodies, or (``written``: the
    session writes them first) their paths."""

    def make(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
        docs: list[Any] = [
            {"session_id": session, "path": path, "content": {"attributes": {}}} for path in paths
        ]
        if written:
            w.v1_set(repo, session, paths)
            docs = paths
        return {"collection": "metadata"}, {**in_session(session), "json": docs}

    return make


def rebased(w: World, repo: str, session: str, response: httpx.Response) -> bool:
    """Rebase changes nothing: allowed, it answers the tip."""
    return response.status_code == 200 and body(response) == {"commit_id": seeded(w, repo).commit}


def opened_for(w: World, repo: str, session: str) -> bool:
    """Whether a session was opened with the message ``session`` (the id of the case's own session)."""
    return session in {s["message"] for s in active(w, repo).values()}


def v1_prefix(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    w.v1_set(repo, session, ["meta/root/gone/x.group.json"])
    return {"collection": "metadata", "prefix": "meta/root/gone"}, in_session(session)


def v1_rename(w: World, repo: str, session: str) -> tuple[dict[str, str], dict[str, Any]]:
    w.v1_set(repo, session, ["meta/root/src.group.json"])
    return {}, in_session(session, src_path="src", dst_path="dst")


def sees(path: str) -> Callable[[World, str, str, httpx.Response], bool]:
    return lambda w, repo, session, response: path in w.v1_get(repo, session, [path])


def gone(path: str) -> Callable[[World, str, str, httpx.Response], bool]:
    return lambda w, repo, session, response: path not in w.v1_get(repo, session, [path])


def v1_answers(w: World, repo: str) -> dict[str, Callable[[Any], bool]]:
    """What an allowed read of each V1 route answers about the seeded history."""
    seed = seeded(w, repo)
    return {
        "commits": lambda found: seed.commit in [c["_id"] for c in found],
        "commit": lambda found: found["_id"] == seed.commit and found["message"] == "seed",
        "branches": lambda found: found == [{"_id": "main", "commit_id": seed.commit}],
        "tags": lambda found: [(t["label"], t["commit"]["_id"]) for t in found] == [(V1_TAG, seed.commit)],
        "sessions": lambda found: seed.session not in {s["_id"] for s in found},  # landed: no longer open
        "session": lambda found: found["_id"] == seed.session,
        "modified": lambda found: [p["path"] for p in found] == [V1_GROUP],
        "docs": lambda found: [(d["path"], d["session_id"]) for d in found] == [(V1_GROUP, seed.session)],
        "paths": lambda found: found == [V1_GROUP],
        "size": lambda found: (found["number_of_chunks"], found["total_chunk_bytes"]) == (1, 3),
        "tree": lambda found: found["attributes"] == {"matrix": True} and found["arrays"] == {},
        "doc sessions": lambda found: [s["session_id"] for s in found] == [seed.session],
    }


def v1_get(what: str, values: dict[str, str] | None = None, **kwargs: Any) -> Prepare:
    """A read of the seeded history of a fixed V1 repo; ``values`` and ``kwargs`` may hold ``"{commit}"``,
    ``"{session}"`` or ``"{read}"`` (the read session of the seeded commit)."""

    def fill(w: World, repo: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: fill(w, repo, item) for key, item in value.items()}
        if isinstance(value, str):
            seed = seeded(w, repo)
            return value.format(commit=seed.commit, session=seed.session, read=f"read-{seed.commit}")
        return value

    def prepare(w: World, p: Principal, target: str) -> Prep:
        repo = v1_repo(w, target)

        def after(response: httpx.Response, allowed: bool) -> None:
            if allowed:
                assert v1_answers(w, repo)[what](body(response)), body(response)

        return Prep({"repo": repo, **fill(w, repo, values or {})}, fill(w, repo, kwargs), after)

    return prepare


def made(done: Callable[[World, str, str], bool]) -> Callable[[World, str, str, httpx.Response], bool]:
    return lambda w, repo, session, response: done(w, repo, session)


# compute services --------------------------------------------------------------------------------


def deployment_body(w: World, name: str) -> dict[str, Any]:
    # The smallest size, and no process kept while idle: the matrix only asks who may.
    return {
        "service_type": "zarr",
        "org": w.name,
        "is_public": False,
        "deployment_name": name,
        "sku_code": "xs",
        "min_replicas": 0,
    }


def fresh_deployment(w: World) -> str:
    name = unique("mx")
    w.admin_ok("POST", f"/compute/orgs/{w.name}/services", 201, json=deployment_body(w, name))
    return name


def drop_deployment(w: World, name: str) -> None:
    response = w.admin("DELETE", f"/compute/orgs/{w.name}/services/{name}")
    assert response.status_code in (200, 404, 409), response.text  # disabled, never made, disabled before


def enabled_deployments(w: World) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in w.admin_ok("GET", f"/compute/orgs/{w.name}/services")}


def standing_deployment(w: World) -> str:
    """A deployment of the target org for the cases that only read (made once, disabled at the end)."""
    if "deployment" not in w.shared:
        name = w.shared["deployment"] = fresh_deployment(w)
        w.teardown.append(lambda: drop_deployment(w, name))
    return str(w.shared["deployment"])


def enable_deployment(w: World, p: Principal, target: str) -> Prep:
    name = unique("mx")

    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response)["deployment"]["name"] == name
        assert (name in enabled_deployments(w)) is allowed

    return Prep(
        kwargs={"json": deployment_body(w, name)}, after=after, cleanup=lambda: drop_deployment(w, name)
    )


def read_deployment(what: str, params: dict[str, str] | None = None) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        name = standing_deployment(w)

        def after(response: httpx.Response, allowed: bool) -> None:
            if not allowed:
                return
            if what == "list":
                assert name in {d["name"] for d in body(response)}
            elif what == "status":
                assert body(response)["name"] == name and body(response)["config"]["sku_code"] == "xs"
            elif what == "logs":  # the 0.15 clients' form: one JSON string
                assert isinstance(body(response), str)
            else:
                assert response.headers["content-type"].startswith("text/plain")

        return Prep({"name": name}, {"params": params or {}}, after)

    return prepare


def change_deployment(what: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        name = fresh_deployment(w)

        def after(response: httpx.Response, allowed: bool) -> None:
            listed = enabled_deployments(w)
            if what == "update":
                assert listed[name]["config"]["sku_code"] == ("s" if allowed else "xs")
            else:
                assert (name in listed) is not allowed

        kwargs = {"json": {"sku_code": "s"}} if what == "update" else {}
        return Prep({"name": name}, kwargs, after, lambda: drop_deployment(w, name))

    return prepare


def compute_offer(what: str) -> Prepare:
    def prepare(w: World, p: Principal, target: str) -> Prep:
        def after(response: httpx.Response, allowed: bool) -> None:
            if allowed and what == "regions":
                assert body(response) == [{"name": "local", "location": None, "default": True}]
            elif allowed:
                assert {"xs", "s", "m", "l"} <= {sku["code"] for sku in body(response)}

        return Prep(after=after)

    return prepare


def no_deployment(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        assert response.json()["detail"] == f"compute service nope not found in org {w.name}"

    return Prep({"deployment": "nope", "path": "repo/main/zarr/zarr.json"}, after=after)


# maintenance -------------------------------------------------------------------------------------


def window_of(w: World) -> dict[str, Any]:
    """A weekly window whose start (a random minute of Monday) tells the case's own policy from others'.

    Only a window: with expiration and GC left unset (so disabled), the scheduler queues no run for it.
    """
    minute = uuid.uuid4().int % (24 * 60)
    return {"day_of_week": 0, "start_time": f"{minute // 60:02d}:{minute % 60:02d}:00", "duration": 3600}


def starts(config: dict[str, Any] | None) -> str | None:
    """A policy's window start (``HH:MM``), ``None`` when it sets no window."""
    window = (config or {}).get("window")
    return None if window is None else str(window["start_time"])[:5]


def org_optimization(w: World) -> dict[str, Any]:
    return dict(w.admin_ok("GET", f"/orgs/{w.name}/optimization"))


def repo_maintenance(w: World, repo: str) -> dict[str, Any]:
    return dict(w.admin_ok("GET", f"/orgs/{w.name}/{repo}/maintenance"))


def runs_of(w: World, repo: str) -> list[dict[str, Any]]:
    return list(w.admin_ok("GET", f"/orgs/{w.name}/{repo}/maintenance/runs", params={"limit": 200})["items"])


def standing_run(w: World, repo: str) -> str:
    """A dry run of a fixed repo for the cases that only read (requested once; a dry run leaves the repo's
    status and data alone)."""
    key = ("maintenance run", repo)
    if key not in w.shared:
        made = w.admin_ok("POST", f"/orgs/{w.name}/{repo}/maintenance/runs", 202, json={"dry_run": True})
        w.shared[key] = made["id"]
    return str(w.shared[key])


def read_org_policy(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if allowed:
            assert body(response) == org_optimization(w)

    return Prep(after=after)


def set_org_policy(w: World, p: Principal, target: str) -> Prep:
    policy = {"window": window_of(w)}
    sent = starts(policy)

    def after(response: httpx.Response, allowed: bool) -> None:
        assert (starts(org_optimization(w)) == sent) is allowed
        if allowed:
            assert starts(body(response)) == sent

    def cleanup() -> None:
        w.admin_ok("PUT", f"/orgs/{w.name}/optimization", json={})

    return Prep(kwargs={"json": policy}, after=after, cleanup=cleanup)


def read_maintenance(what: str) -> Prepare:
    """A read of a fixed repo's maintenance: its policy (``policy``), its runs (``runs``) or one run
    (``run``), which show the repo's standing dry run."""

    def prepare(w: World, p: Principal, target: str) -> Prep:
        repo = fixed_repo(w, target)
        run_id = standing_run(w, repo)

        def after(response: httpx.Response, allowed: bool) -> None:
            if not allowed:
                return
            found = body(response)
            if what == "policy":
                assert (found["org"], found["repo"]) == (w.name, repo) and found["last_run"]["id"] == run_id
                assert found["effective"]["window_source"] in ("repo", "org", "service")
            elif what == "runs":
                assert run_id in {r["id"] for r in found["items"]}
                assert {(r["org"], r["repo"]) for r in found["items"]} == {(w.name, repo)}
            else:
                assert (found["id"], found["repo"], found["dry_run"]) == (run_id, repo, True)

        return Prep({"repo": repo, "run_id": run_id}, after=after)

    return prepare


def set_repo_policy(via: str) -> Prepare:
    """A fresh repo's own policy, replaced with ``PUT .../maintenance`` or (``patch``) with the repo's
    ``optimization_config``."""

    def prepare(w: World, p: Principal, target: str) -> Prep:
        name = target_repo(w, p, target)["name"]
        policy = {"window": window_of(w)}
        sent = starts(policy)

        def after(response: httpx.Response, allowed: bool) -> None:
            assert starts(repo_maintenance(w, name)["config"]) == (sent if allowed else None)
            if allowed:
                found = body(response)
                assert starts(found["optimization_config" if via == "patch" else "config"]) == sent

        kwargs = {"json": {"optimization_config": policy} if via == "patch" else policy}
        return Prep({"repo": name}, kwargs, after, lambda: w.drop_repo(name))

    return prepare


def request_run(dry_run: bool) -> Prepare:
    """A run of a fresh repo (a repo has one queued or running run at a time: each allowed case needs its
    own)."""

    def prepare(w: World, p: Principal, target: str) -> Prep:
        name = target_repo(w, p, target)["name"]

        def after(response: httpx.Response, allowed: bool) -> None:
            listed = runs_of(w, name)
            if allowed:
                made = body(response)
                assert made["dry_run"] is dry_run and made["trigger"] == "requested"
                assert made["requested_by"] == p.id and made["repo"] == name
                assert [r["id"] for r in listed] == [made["id"]]
            else:
                assert listed == []

        return Prep({"repo": name}, {"json": {"dry_run": dry_run}}, after, lambda: w.drop_repo(name))

    return prepare


# audit log ---------------------------------------------------------------------------------------


def org_audit(what: str) -> Prepare:
    """The org's audit log (``entries``: the creation of the granted repo) or the chain's verification."""

    def prepare(w: World, p: Principal, target: str) -> Prep:
        params = {"action": "repo.create", "repo": w.granted} if what == "entries" else {}

        def after(response: httpx.Response, allowed: bool) -> None:
            if not allowed:
                return
            found = body(response)
            if what == "entries":
                assert [(e["action"], e["org"], e["repo"]) for e in found["items"]] == [
                    ("repo.create", w.name, w.granted)
                ]
            else:
                assert found["ok"] is True and found["entries"] > 0, found

        return Prep(kwargs={"params": params}, after=after)

    return prepare


def operators_only(w: World, p: Principal, target: str) -> Prep:
    def after(response: httpx.Response, allowed: bool) -> None:
        if response.status_code == 403:
            assert "operators" in body(response)["detail"]

    return Prep(after=after)


# the table ---------------------------------------------------------------------------------------

ORGS, REPOS = "/orgs/{org}", "/repos/{org}/{repo}"
CLIENT = ORGS + "/api-clients/{client_id}"
BUCKET = ORGS + "/buckets/{bucket_id}"
POLICIES = ORGS + "/settings/virtual-chunk-access-policies"
V1, META = REPOS, {"collection": "metadata"}
COMPUTE = "/compute/orgs/{org}"
SERVICE_DATA = "/v1/services/{deployment}/{org}/{path:path}"
DEPLOYMENT = COMPUTE + "/services/{name}"
MAINTENANCE = ORGS + "/{repo}/maintenance"

ENDPOINTS: tuple[Endpoint, ...] = (
    # public: any Authorization header is ignored
    Endpoint("GET", "/", Public(200)),
    Endpoint("GET", "/openapi.json", Public(200)),
    Endpoint("GET", "/docs", Public(200)),
    Endpoint("GET", "/docs/oauth2-redirect", Public(200)),
    Endpoint(
        "GET", "/docs/assets/{name}", Public(200), prepare=lambda w, p, t: Prep({"name": "swagger-ui.css"})
    ),
    Endpoint("GET", "/health", Public(200)),
    Endpoint("GET", "/ready", Public(200)),
    Endpoint("GET", "/metrics", Public(404)),  # METRICS is off by default
    Endpoint("GET", "/.well-known/jwks.json", Public(200)),
    Endpoint("GET", "/.well-known/openid-configuration", Public(200)),
    Endpoint("GET", "/auth/config", Public(200)),
    Endpoint("POST", "/oauth/device/code", Public(200), prepare=form({"client_id": "arraylake-python"})),
    Endpoint("POST", "/oauth/token", Public(400), prepare=token_form),
    Endpoint("POST", "/oauth/revoke", Public(200), prepare=form({"token": "not-a-refresh-token"})),
    Endpoint("GET", "/v2/logout", Public(200)),
    Endpoint("GET", "/login", Public(200)),
    Endpoint("POST", "/login", Public(303), prepare=login_form),
    Endpoint("GET", "/login/oidc", Public(404)),
    Endpoint("GET", "/login/oidc/callback", Public(404)),
    Endpoint("GET", "/logout", Public(303)),  # no browser sign-in: off to /login
    Endpoint("POST", "/logout", Public(303)),
    Endpoint("GET", "/device", Public(303), prepare=redirect_to_login),  # a bearer token is no sign-in
    Endpoint("POST", "/device", Public(303), prepare=device_form),
    # any principal
    Endpoint("GET", "/user", Signed(), prepare=whoami),
    Endpoint("POST", "/user/diagnostics", Signed(), 204),
    Endpoint("GET", "/user/orgs", Signed(), prepare=my_orgs),
    Endpoint("POST", "/auth/update-user", Signed(), prepare=whoami),
    Endpoint("POST", "/orgs", Signed(users_only=True), 201, prepare=new_org),
    # the org, members, API clients
    Endpoint("GET", ORGS, OrgAction(VIEW_ORG), prepare=get_org),
    Endpoint("GET", ORGS + "/members", OrgAction(VIEW_ORG), prepare=list_members),
    Endpoint("POST", ORGS + "/members", OrgAction(MANAGE_MEMBERS), 201, non_member_client, fresh=True),
    Endpoint("PATCH", ORGS + "/members/{who}", OrgAction(MANAGE_MEMBERS), 200, member_client("role"), True),
    Endpoint(
        "DELETE", ORGS + "/members/{who}", OrgAction(MANAGE_MEMBERS), 204, member_client("remove"), True
    ),
    Endpoint("GET", ORGS + "/api-clients/authenticate", OrgAction(MANAGE_MEMBERS), prepare=lookup_token),
    Endpoint("GET", ORGS + "/permissions/check", SelfCheck(), prepare=check_self),
    Endpoint("GET", ORGS + "/api-clients/permissions/check", SelfCheck(), prepare=check_self),
    Endpoint("GET", ORGS + "/api-clients", OrgAction(MANAGE_MEMBERS), prepare=list_clients),
    Endpoint("POST", ORGS + "/api-clients", OrgAction(MANAGE_MEMBERS), 201, new_client),
    Endpoint("GET", CLIENT, OrgAction(MANAGE_MEMBERS), prepare=get_client),
    Endpoint("DELETE", CLIENT, OrgAction(MANAGE_MEMBERS), 204, fresh_client_prep("revoke client"), True),
    Endpoint(
        "POST", CLIENT + "/tokens", OrgAction(MANAGE_MEMBERS), 201, fresh_client_prep("new token"), True
    ),
    Endpoint(
        "DELETE",
        CLIENT + "/tokens/{token_id}",
        OrgAction(MANAGE_MEMBERS),
        204,
        fresh_client_prep("revoke"),
        True,
    ),
    # bucket configs
    Endpoint("POST", ORGS + "/buckets", OrgAction(MANAGE_BUCKETS), 201, new_bucket),
    Endpoint("GET", ORGS + "/buckets", OrgAction(READ_BUCKETS), prepare=list_buckets),
    Endpoint("GET", BUCKET, OrgAction(READ_BUCKETS), prepare=get_bucket),
    Endpoint("PATCH", BUCKET, OrgAction(MANAGE_BUCKETS), 200, fresh_bucket_prep("modify"), True),
    Endpoint("DELETE", BUCKET, OrgAction(MANAGE_BUCKETS), 204, fresh_bucket_prep("delete"), True),
    Endpoint("POST", BUCKET + "/default", OrgAction(MANAGE_BUCKETS), 204, fresh_bucket_prep("default"), True),
    Endpoint("GET", BUCKET + "/repos", OrgAction(READ_BUCKETS), prepare=bucket_repos),
    Endpoint("GET", BUCKET + "/credentials", OrgAction(READ_BUCKETS), prepare=bucket_credentials("read")),
    Endpoint("POST", BUCKET + "/check", OrgAction(CREATE_REPO), prepare=check_bucket),
    Endpoint("GET", ORGS + "/storage-binding", OrgAction(MANAGE_BUCKETS), prepare=storage_binding),
    # virtual chunk access policies
    Endpoint("GET", POLICIES, OrgAction(READ_BUCKETS), prepare=list_policies),
    Endpoint("PUT", POLICIES, OrgAction(MANAGE_BUCKETS), 200, policy_prep("put"), True),
    Endpoint("DELETE", POLICIES, OrgAction(MANAGE_BUCKETS), 204, policy_prep("delete"), True),
    # repos
    Endpoint("GET", ORGS + "/repos", Listing(), prepare=listing(paginated=False)),
    Endpoint("GET", ORGS + "/repos/paginated", Listing(), prepare=listing(paginated=True)),
    Endpoint("GET", ORGS + "/repos/deletions/{repo_id}", OrgAction(LIST_REPOS), prepare=deletion_progress),
    Endpoint("POST", ORGS + "/repos", OrgAction(CREATE_REPO), 201, new_repo),
    Endpoint("POST", ORGS + "/repos/import", OrgAction(CREATE_REPO), 201, import_repo, fresh=True),
    Endpoint("POST", ORGS + "/{repo}/activate", OrgAction(CREATE_REPO), 200, activate, fresh=True),
    Endpoint("GET", REPOS, RepoAction(READ), prepare=read_repo(check_repo)),
    Endpoint("GET", REPOS + "/open", RepoAction(READ), prepare=read_repo(check_open)),
    Endpoint("GET", REPOS + "/bucket-credentials", RepoAction(READ), prepare=read_repo(check_null)),
    Endpoint("GET", REPOS + "/virtual-chunk-credentials", RepoAction(READ), 200, container_refresh, True),
    Endpoint("GET", ORGS + "/{repo}/status", RepoAction(READ), prepare=read_repo(check_online)),
    Endpoint("PATCH", ORGS + "/{repo}", RepoAction(WRITE), 200, change_repo("modify"), True),
    Endpoint("PUT", ORGS + "/{repo}/status", RepoAction(WRITE), 200, change_repo("status"), True),
    Endpoint("POST", ORGS + "/{repo}/restore", RepoAction(MANAGE), 200, change_repo("restore"), True),
    Endpoint("DELETE", ORGS + "/{repo}", RepoAction(MANAGE), 204, change_repo("delete"), True),
    # V1 repos: history and sessions (reads of the seeded history; writes in a fresh session)
    Endpoint("GET", V1 + "/commits", RepoAction(READ), prepare=v1_get("commits", params={"limit": 0})),
    Endpoint(
        "GET",
        V1 + "/commits/{commit_id}",
        RepoAction(READ),
        prepare=v1_get("commit", {"commit_id": "{commit}"}),
    ),
    Endpoint(
        "PUT",
        V1 + "/commits",
        RepoAction(WRITE),
        201,
        v1_write(v1_new_commit, made(lambda w, r, s: f"by {s}" in messages(w, r))),
        True,
    ),
    Endpoint("GET", V1 + "/branches", RepoAction(READ), prepare=v1_get("branches", params={"names": "main"})),
    Endpoint(
        "PUT",
        V1 + "/branches",
        RepoAction(WRITE),
        200,
        v1_write(v1_new_branch, made(lambda w, r, s: s in branches(w, r))),
        True,
    ),
    Endpoint(
        "DELETE",
        V1 + "/branches",
        RepoAction(WRITE),
        200,
        v1_write(v1_old_branch, made(lambda w, r, s: s not in branches(w, r))),
        True,
    ),
    Endpoint("GET", V1 + "/tags", RepoAction(READ), prepare=v1_get("tags", params={"names": V1_TAG})),
    Endpoint(
        "PUT",
        V1 + "/tags",
        RepoAction(WRITE),
        201,
        v1_write(v1_new_tag, made(lambda w, r, s: s in tags(w, r))),
        True,
    ),
    Endpoint(
        "DELETE",
        V1 + "/tags",
        RepoAction(WRITE),
        200,
        v1_write(v1_old_tag, made(lambda w, r, s: s not in tags(w, r))),
        True,
    ),
    Endpoint("POST", V1 + "/rebase", RepoAction(WRITE), 200, v1_write(v1_rebase, rebased), True),
    Endpoint("GET", V1 + "/sessions", RepoAction(READ), prepare=v1_get("sessions")),
    Endpoint(
        "POST", V1 + "/sessions", RepoAction(WRITE), 201, v1_write(v1_new_session, made(opened_for)), True
    ),
    Endpoint(
        "GET",
        V1 + "/sessions/{session_id}",
        RepoAction(READ),
        prepare=v1_get("session", {"session_id": "{session}"}),
    ),
    Endpoint(
        "PUT", V1 + "/sessions/{session_id}", RepoAction(WRITE), 200, v1_write(v1_extend, lives_long), True
    ),
    Endpoint(
        "DELETE",
        V1 + "/sessions/{session_id}",
        RepoAction(WRITE),
        200,
        v1_write(v1_this_session, made(lambda w, r, s: s not in active(w, r))),
        True,
    ),
    Endpoint(
        "GET",
        V1 + "/modified_paths/{collection}",
        RepoAction(READ),
        prepare=v1_get("modified", META, params={"session_id": "{session}"}),
    ),
    Endpoint(
        "GET",
        V1 + "/modified_paths_commit/{collection}",
        RepoAction(READ),
        prepare=v1_get("modified", META, params={"commit_id": "{commit}"}),
    ),
    # V1 repos: documents
    Endpoint(
        "POST",
        V1 + "/contents/{collection}/_bulk_get",
        RepoAction(READ),
        prepare=v1_get("docs", META, params={"session_id": "{read}"}, json=[V1_GROUP]),
    ),
    Endpoint(
        "GET",
        V1 + "/contents/{collection}/",
        RepoAction(READ),
        prepare=v1_get(
            "paths", META, params={"session_id": "{read}", "prefix": "meta/", "all_subdirs": "true"}
        ),
    ),
    Endpoint(
        "PUT",
        V1 + "/contents/{collection}/_bulk_set",
        RepoAction(WRITE),
        200,
        v1_write(v1_docs(["meta/root/new.group.json"]), sees("meta/root/new.group.json")),
        True,
    ),
    Endpoint(
        "PUT",
        V1 + "/contents/{collection}/_bulk_delete",
        RepoAction(WRITE),
        200,
        v1_write(v1_docs(["meta/root/old.group.json"], written=True), gone("meta/root/old.group.json")),
        True,
    ),
    Endpoint(
        "DELETE",
        V1 + "/contents/{collection}/{prefix:path}",
        RepoAction(WRITE),
        200,
        v1_write(v1_prefix, gone("meta/root/gone/x.group.json")),
        True,
    ),
    Endpoint(
        "PUT",
        V1 + "/contents/nodes/rename",
        RepoAction(WRITE),
        200,
        v1_write(v1_rename, sees("meta/root/dst.group.json")),
        True,
    ),
    Endpoint(
        "GET",
        V1 + "/size/",
        RepoAction(READ),
        prepare=v1_get("size", params={"session_id": "{read}", "prefix": "data/root"}),
    ),
    Endpoint("GET", V1 + "/tree", RepoAction(READ), prepare=v1_get("tree", params={"session_id": "{read}"})),
    Endpoint(
        "GET",
        V1 + "/sessions/{collection}/{path:path}",
        RepoAction(READ),
        prepare=v1_get("doc sessions", {"collection": "metadata", "path": V1_GROUP}),
    ),
    # grants
    Endpoint("GET", REPOS + "/grants", RepoAction(MANAGE), prepare=list_grants),
    Endpoint("POST", REPOS + "/grants", RepoAction(MANAGE), 200, grant_prep("grant"), True),
    Endpoint("DELETE", REPOS + "/grants/{grantee}", RepoAction(MANAGE), 200, grant_prep("revoke"), True),
    # compute services
    Endpoint("POST", COMPUTE + "/services", OrgAction(MANAGE_COMPUTE), 201, enable_deployment),
    Endpoint("GET", COMPUTE + "/services", OrgAction(VIEW_COMPUTE), prepare=read_deployment("list")),
    Endpoint("GET", DEPLOYMENT, OrgAction(VIEW_COMPUTE), prepare=read_deployment("status")),
    Endpoint("GET", DEPLOYMENT + "/logs", OrgAction(VIEW_COMPUTE), prepare=read_deployment("logs")),
    Endpoint("PATCH", DEPLOYMENT, OrgAction(MANAGE_COMPUTE), 200, change_deployment("update"), True),
    Endpoint("DELETE", DEPLOYMENT, OrgAction(MANAGE_COMPUTE), 200, change_deployment("disable"), True),
    Endpoint("GET", COMPUTE + "/regions", OrgAction(VIEW_COMPUTE), prepare=compute_offer("regions")),
    Endpoint("GET", COMPUTE + "/skus", OrgAction(VIEW_COMPUTE), prepare=compute_offer("skus")),
    # a deployment's data URLs: the proxy checks no token, the deployment's data plane authenticates
    Endpoint("GET", SERVICE_DATA, Public(404), prepare=no_deployment),
    Endpoint("POST", SERVICE_DATA, Public(404), prepare=no_deployment),
    # maintenance: an org's default policy, a repo's policy and its runs
    Endpoint("GET", ORGS + "/optimization", OrgAction(VIEW_ORG), prepare=read_org_policy),
    Endpoint("PUT", ORGS + "/optimization", OrgAction(MANAGE_MAINTENANCE), prepare=set_org_policy),
    Endpoint("GET", MAINTENANCE, RepoAction(READ), prepare=read_maintenance("policy")),
    Endpoint("PUT", MAINTENANCE, RepoAction(MANAGE), 200, set_repo_policy("put"), True),
    Endpoint("POST", MAINTENANCE + "/runs", RepoAction(MANAGE), 202, request_run(dry_run=False), True),
    Endpoint("GET", MAINTENANCE + "/runs", RepoAction(READ), prepare=read_maintenance("runs")),
    Endpoint("GET", MAINTENANCE + "/runs/{run_id}", RepoAction(READ), prepare=read_maintenance("run")),
    # the audit log: an org's for its admins, the whole for the service's operators
    Endpoint("GET", ORGS + "/audit/entries", OrgAction(VIEW_AUDIT), prepare=org_audit("entries")),
    Endpoint("GET", ORGS + "/audit/verify", OrgAction(VIEW_AUDIT), prepare=org_audit("verify")),
    Endpoint("GET", "/audit/entries", Operators(), prepare=operators_only),
    Endpoint("GET", "/audit/verify", Operators(), prepare=operators_only),
)

# Variants of the same routes: asking about someone else, asking for write access, a body that needs
# another right (a maintenance policy in a repo's change, a dry run).
VARIANTS: tuple[tuple[str, Endpoint], ...] = (
    (
        "about another principal",
        Endpoint("GET", ORGS + "/permissions/check", OrgAction(MANAGE_MEMBERS), prepare=check_other),
    ),
    (
        "write",
        Endpoint("GET", BUCKET + "/credentials", OrgAction(CREATE_REPO), prepare=bucket_credentials("write")),
    ),
    (
        "write",
        Endpoint(
            "GET",
            REPOS + "/open",
            RepoAction(WRITE),
            prepare=with_params(read_repo(check_open), {"access": "write"}),
        ),
    ),
    (
        "write",
        Endpoint(
            "GET",
            REPOS + "/bucket-credentials",
            RepoAction(WRITE),
            prepare=with_params(read_repo(check_null), {"access": "write"}),
        ),
    ),
    (
        "streamed",
        Endpoint(
            "GET",
            DEPLOYMENT + "/logs",
            OrgAction(VIEW_COMPUTE),
            prepare=read_deployment("lines", {"follow_timeout": "1", "tail": "10"}),
        ),
    ),
    (
        "maintenance policy",
        Endpoint("PATCH", ORGS + "/{repo}", RepoAction(MANAGE), 200, set_repo_policy("patch"), True),
    ),
    (
        "dry run",
        Endpoint("POST", MAINTENANCE + "/runs", RepoAction(WRITE), 202, request_run(dry_run=True), True),
    ),
)


def targets(endpoint: Endpoint, spec: Spec) -> tuple[str, ...]:
    """Repo endpoints are asked about a repo the principal holds grants on (if it holds any) and another."""
    if isinstance(endpoint.rule, RepoAction):
        return ("granted", "plain") if spec.grants else ("plain",)
    return ("",)


ROWS = [(e.id, e) for e in ENDPOINTS] + [(f"{e.id} ({label})", e) for label, e in VARIANTS]
CASES = [
    pytest.param(e, s.name, t, id=f"{row} | {s.name}{f' | {t} repo' if t else ''}")
    for row, e in ROWS
    for s in SPECS
    for t in targets(e, s)
]


# ---------------------------------------------------------------------------------------------- runner


@pytest.fixture(scope="module")
def world(service: ArraylakeService) -> Iterator[World]:
    with httpx.Client(base_url=service.url, timeout=30, follow_redirects=False) as http:
        built = build_world(service, http)
        yield built
        built.close()


def check_refusal(w: World, p: Principal, why: str, response: httpx.Response, sent: str, repo: str) -> None:
    """A refusal: JSON with a detail that says why; outside the org, nothing of it named."""
    found = response.json()
    assert set(found) == {"detail", "request_id"}, found
    detail = found["detail"]
    assert isinstance(detail, str) and detail, found
    if why == "unauthenticated":
        assert p.spec.refusal.lower() in detail.lower(), detail
        assert response.headers["www-authenticate"] == "Bearer"
    elif why == "org":
        assert detail == f"org {w.name} not found"
    elif why == "repo":
        assert detail == f"repo {w.name}/{repo} not found"
    if response.status_code in (401, 404):
        for secret in w.secrets:
            if secret not in sent:
                assert secret not in response.text, (secret, response.text)


def plain(path: str) -> str:
    """A route's path without converters (``{prefix:path}`` -> ``{prefix}``), as OpenAPI has it."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


@pytest.mark.parametrize(("endpoint", "who", "target"), CASES)
def test_matrix(world: World, endpoint: Endpoint, who: str, target: str) -> None:
    p = world.principals[who]
    status, why = outcome(endpoint.rule, p.spec, target, endpoint.success)
    allowed = why in ("ok", "public")
    shared = endpoint.fresh and not allowed and target != "granted"
    key = (id(endpoint), target)
    if shared and key in world.shared:
        prep = world.shared[key]
    else:
        prep = endpoint.prepare(world, p, target) if endpoint.prepare else Prep()
        if shared:
            world.shared[key] = prep
            if prep.cleanup is not None:
                world.teardown.append(prep.cleanup)
    try:
        values = {"org": world.name, **prep.values}
        path = plain(endpoint.path).format(**values)
        response = world.request(endpoint.method, path, p.headers, **prep.kwargs)
        assert response.status_code == status, (
            f"{endpoint.method} {path} as {who}: expected {status} ({why}), "
            f"got {response.status_code}: {response.text[:400]}"
        )
        if not allowed:
            check_refusal(world, p, why, response, path + repr(prep.kwargs), values.get("repo", ""))
        if prep.after is not None:
            prep.after(response, allowed)
    finally:
        if not shared and prep.cleanup is not None:
            prep.cleanup()


# ------------------------------------------------------------------------------------------- answers

VALID = [s.name for s in SPECS if s.valid]


def asking(world: World, subject: Principal) -> Iterator[tuple[Principal, Callable[..., httpx.Response]]]:
    """Who may ask about ``subject``: the org's admin, and the subject itself (if it has anything there)."""
    path = f"/orgs/{world.name}/permissions/check"
    admin = world.principals["org_admin"]
    for asker in (admin, subject) if subject is not admin and in_org(subject.spec) else (admin,):

        def ask(resource: str, action: str, asker: Principal = asker) -> httpx.Response:
            params = {"principal_id": subject.id, "resource": resource, "action": action}
            response = world.request("GET", path, asker.headers, params=params)
            assert response.status_code == 200, (asker.name, resource, action, response.text)
            return response

        yield asker, ask


@pytest.mark.parametrize("subject", VALID)
def test_permission_check_answers(world: World, subject: str) -> None:
    """``has_permission`` per role and grant, asked by the org's admin and (if it may) by the subject."""
    p = world.principals[subject]
    for asker, ask in asking(world, p):
        for action, roles in ORG_ACTION_ROLES.items():
            assert ask(world.name, action).json()["has_permission"] is (p.spec.role in roles), (
                asker.name,
                action,
            )
        for action in (READ, WRITE, FLUX, SYNC):
            for target, repo in (("granted", world.granted), ("plain", world.plain)):
                expected = action in repo_rights(p.spec, target)
                for resource in (repo, f"{world.name}/{repo}"):
                    found = ask(resource, action).json()["has_permission"]
                    assert found is expected, (asker.name, action, resource)
            assert ask("no-such-repo", action).json()["has_permission"] is False
    if not in_org(p.spec):
        response = world.request(
            "GET",
            f"/orgs/{world.name}/permissions/check",
            p.headers,
            params={"principal_id": p.id, "resource": world.name, "action": "CAN_READ_REPOS"},
        )
        assert response.status_code == 404 and response.json()["detail"] == f"org {world.name} not found"


@pytest.mark.parametrize("subject", VALID)
def test_permission_check_manage_users_on_a_repo(world: World, subject: str) -> None:
    """CAN_MANAGE_USERS is both an org action and a repo action: with a repo as resource, it is asked
    about the repo (org admins may manage every repo; grants give it on one)."""
    p = world.principals[subject]
    for asker, ask in asking(world, p):
        for target, repo in (("granted", world.granted), ("plain", world.plain)):
            expected = MANAGE in repo_rights(p.spec, target)
            for resource in (repo, f"{world.name}/{repo}"):
                assert ask(resource, MANAGE).json()["has_permission"] is expected, (asker.name, resource)


def test_token_lookup_answers(world: World) -> None:
    """``api-clients/authenticate``: the client of a valid token of this org, 404 for any other token."""
    path = f"/orgs/{world.name}/api-clients/authenticate"
    tokens = {name: (p.authorization or "").removeprefix("Bearer ") for name, p in world.principals.items()}
    valid = {"org_admin", "client_admin", "client_writer", "client_reader", "client_member"}
    invalid = ["revoked_token", "revoked_client", "expired_token", "other_org_admin", "user_writer"]
    for asker in ("org_admin", "client_admin"):
        headers = world.principals[asker].headers
        for name in valid:
            response = world.request("GET", path, headers, params={"token": tokens[name]})
            assert response.status_code == 200, response.text
            assert response.json()["client_id"] == world.principals[name].id
        for name in [*invalid, "ema_short"]:
            response = world.request("GET", path, headers, params={"token": tokens[name]})
            assert response.status_code == 404, (name, response.text)
            assert response.json()["detail"] == f"no valid API token of org {world.name} matches"
    for asker, status in (("client_writer", 403), ("user_member_granted", 403), ("user_grant_only", 404)):
        response = world.request(
            "GET", path, world.principals[asker].headers, params={"token": tokens["client_reader"]}
        )
        assert response.status_code == status, (asker, response.text)
        assert world.principals["client_reader"].id not in response.text


# --------------------------------------------------------------------------------------------- coverage


def is_web_app_path(path: str) -> bool:
    return path == "/app" or path.startswith("/app/")


def routes(items: list[Any]) -> Iterator[tuple[str, str]]:
    for route in items:
        if hasattr(route, "original_router"):  # FastAPI >= 0.165 keeps included routers whole
            yield from routes(route.original_router.routes)
        elif hasattr(route, "routes") and not hasattr(route, "methods"):
            yield from routes(route.routes)
        elif hasattr(route, "methods"):  # not a mounted app (the web app's static files)
            for method in sorted(route.methods - {"HEAD"}):
                yield method, route.path


SIZE = f"{len(CASES)} cases per backend"


@pytest.mark.parametrize("size", [len(CASES)], ids=[SIZE])
def test_matrix_covers_every_route(request: pytest.FixtureRequest, size: int) -> None:
    """The table has every route of the application (and nothing else); reports the matrix's size."""
    app = create_app()
    # The web app (signed-in browsers, not tokens) has a matrix of its own: tests/web/test_web_matrix.py
    served = {(method, path) for method, path in routes(app.routes) if not is_web_app_path(path)}
    tested = {(e.method, e.path) for e in ENDPOINTS}
    assert served == tested, {"untested": served - tested, "unknown": tested - served}
    documented = {(m.upper(), path) for path, item in app.openapi()["paths"].items() for m in item}
    assert documented <= {(method, plain(path)) for method, path in tested}
    line = (
        f"authorization matrix: {len(ENDPOINTS)} routes ({len(ROWS)} rows with query variants) x "
        f"{len(SPECS)} principals = {size} cases per backend, {2 * size} on SQLite and PostgreSQL"
    )
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)
