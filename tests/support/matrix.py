"""The principals and the org of the authorization matrix (``tests/test_authorization_matrix.py``), and
fresh resources for its cases.

One ``World`` per catalog backend: a target org with two repos (one of them granted to some principals),
two V1 repos alike, three bucket configs and a bystander API client; another org; and one principal of
every kind the policy tells apart, each with the ``Authorization`` header it sends. All requests go through
one ``httpx.Client``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import icechunk

from arraylake.server.bootstrap import create_user_account
from arraylake.types import OrgRole
from tests.support.service import ArraylakeService, Org
from tests.support.users import PASSWORD, decide, sign_in

CLIENT_ID = "arraylake-python"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Spec:
    """What the policy knows of a principal: kind, role in the target org, grants on its granted repo."""

    name: str
    kind: str | None = "api_client"
    """``user`` or ``api_client``; ``None`` when no valid principal is behind the header."""
    role: str | None = None
    """Role in the target org (``None``: not a member)."""
    grants: frozenset[str] = frozenset()
    """RepoActions granted on the target org's granted repo (and on fresh repos of "granted" cases)."""
    other_org_admin: bool = False
    """Admin of another org (and of nothing in the target org)."""
    refusal: str = ""
    """For invalid headers: a phrase of the 401's detail."""

    @property
    def valid(self) -> bool:
        return self.kind is not None


SPECS: tuple[Spec, ...] = (
    Spec("anonymous", kind=None, refusal="missing API token"),
    Spec("not_a_token", kind=None, refusal="malformed token: expected an API token"),
    Spec("ema_short", kind=None, refusal="malformed API token"),
    Spec("revoked_token", kind=None, refusal="invalid API token"),
    Spec("revoked_client", kind=None, refusal="invalid API token"),
    Spec("expired_token", kind=None, refusal="invalid API token"),
    Spec("other_org_admin", other_org_admin=True),
    Spec("org_admin", role="admin"),
    Spec("client_admin", role="admin"),
    Spec("client_writer", role="repo_writer"),
    Spec("client_reader", role="repo_reader"),
    Spec("client_member", role="member"),
    Spec("user_writer", kind="user", role="repo_writer"),
    Spec(
        "user_member_granted",
        kind="user",
        role="member",
        grants=frozenset({"CAN_WRITE", "CAN_MANAGE_USERS"}),
    ),
    Spec("user_grant_only", kind="user", grants=frozenset({"CAN_READ"})),
)
SPEC = {s.name: s for s in SPECS}
BYSTANDER = Spec("bystander", role="repo_reader")
"""An API client of the target org that is not one of the matrix's principals: the subject of requests."""


@dataclass
class Principal:
    spec: Spec
    authorization: str | None
    id: str = ""
    email: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.authorization is None else {"authorization": self.authorization}


def bearer(token: str) -> str:
    return f"Bearer {token}"


@dataclass
class World:
    service: ArraylakeService
    http: httpx.Client
    org: Org
    other: Org
    granted: str
    """A repo some principals hold grants on."""
    plain: str
    """A repo nobody holds grants on."""
    bucket_ids: dict[str, str]
    """Nickname -> id: ``local`` (default, holds the two repos), ``vault`` (a virtual chunk source) and
    ``scratch`` (for fresh repos)."""
    scratch: str
    scratch_path: str
    bystander: Principal
    bystander_token: str
    v1: dict[str, V1Seed]
    """``granted`` and ``plain``: the V1 repos of those roles (in the scratch bucket), with their history."""
    principals: dict[str, Principal] = field(default_factory=dict)
    created_orgs: dict[str, list[str]] = field(default_factory=dict)
    shared: dict[Any, Any] = field(default_factory=dict)
    """Resources of denied cases, reused by the next denied case of the same endpoint."""
    teardown: list[Callable[[], None]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.org.name

    @property
    def vault(self) -> str:
        return next(n for n in self.bucket_ids if n.startswith("vault-"))

    @property
    def secrets(self) -> set[str]:
        """Names and ids of the target org that nobody outside it may learn."""
        return {
            self.granted,
            self.plain,
            *(seed.repo for seed in self.v1.values()),
            *self.bucket_ids,
            *self.bucket_ids.values(),
            self.bystander.id,
            self.bystander.email,
        }

    # --------------------------------------------------------------------------------------------- requests

    def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        response = self.http.request(method, path, headers=headers or {}, **kwargs)
        self.http.cookies.clear()  # no browser session carries over from a sign-in to the next request
        return response

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request as the target org's admin (the token ``server init`` made)."""
        return self.request(method, path, {"authorization": bearer(self.org.token)}, **kwargs)

    def admin_ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.admin(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    # ------------------------------------------------------------------------------------- fresh resources

    def fresh_repo(self, grantee: Principal | None = None, *, mode: str = "register") -> dict[str, Any]:
        """A new repo in the scratch bucket; ``grantee`` gets its spec's grants on it."""
        body = {"name": unique("tmp"), "bucket_nickname": self.scratch, "create_mode": mode}
        repo = self.admin_ok("POST", f"/orgs/{self.name}/repos", 201, json=body)
        if grantee is not None and grantee.spec.grants:
            self.grant(repo["name"], grantee.id, sorted(grantee.spec.grants))
        return repo

    def grant(self, repo: str, principal_id: str, actions: list[str]) -> None:
        body = {"principal": principal_id, "actions": actions}
        self.admin_ok("POST", f"/repos/{self.name}/{repo}/grants", json=body)

    def drop_repo(self, name: str) -> None:
        response = self.admin(
            "DELETE", f"/orgs/{self.name}/{name}", params={"immediate": "true", "retain_data": "true"}
        )
        assert response.status_code in (204, 404), response.text

    def repo_status(self, name: str) -> int:
        return self.admin("GET", f"/repos/{self.name}/{name}").status_code

    def icechunk_repo(self, prefix: str) -> None:
        """An Icechunk repository at ``prefix`` of the scratch bucket (local directory)."""
        icechunk.Repository.create(icechunk.local_filesystem_storage(f"{self.scratch_path}/{prefix}"))

    def fresh_client(self, role: str = "member") -> dict[str, Any]:
        """A new API client of the target org: ``{"client": ..., "token": ...}``."""
        body = {"name": unique("tmp-client"), "role": role}
        return self.admin_ok("POST", f"/orgs/{self.name}/api-clients", 201, json=body)

    def api_client(self, client_id: str) -> dict[str, Any]:
        return self.admin_ok("GET", f"/orgs/{self.name}/api-clients/{client_id}")

    def members(self) -> dict[str, str]:
        """Principal id -> role, of the target org's members."""
        listed = self.admin_ok("GET", f"/orgs/{self.name}/members")
        return {m["principal_id"]: m["role"] for m in listed}

    def fresh_bucket(self) -> dict[str, Any]:
        nickname = unique("tmp-bucket")
        body = {"nickname": nickname, "platform": "local", "name": nickname}
        return self.admin_ok("POST", f"/orgs/{self.name}/buckets", 201, json=body)

    def drop_bucket(self, bucket_id: str) -> None:
        response = self.admin("DELETE", f"/orgs/{self.name}/buckets/{bucket_id}")
        assert response.status_code in (204, 404), response.text

    def default_bucket(self) -> str | None:
        listed = self.admin_ok("GET", f"/orgs/{self.name}/buckets")
        return next((b["id"] for b in listed if b["is_default"]), None)

    def grants_on(self, repo: str) -> dict[str, list[str]]:
        listed = self.admin_ok("GET", f"/repos/{self.name}/{repo}/grants")
        return {g["principal_id"]: g["actions"] for g in listed}

    # ---------------------------------------------------------------------------------------- V1 repos

    def v1_session(self, repo: str, message: str | None = None) -> str:
        """A new write session on ``main`` of a V1 repo, at its seeded commit."""
        return new_v1_session(self.admin_ok, self.name, self.v1_seed(repo), message)

    def v1_seed(self, repo: str) -> V1Seed:
        return next(seed for seed in self.v1.values() if seed.repo == repo)

    def v1_set(self, repo: str, session: str, paths: list[str], collection: str = "metadata") -> None:
        set_v1_docs(self.admin_ok, self.name, repo, session, paths, collection)

    def v1_get(self, repo: str, session: str, paths: list[str]) -> set[str]:
        """Which of the metadata ``paths`` the session sees."""
        found = self.admin_ok(
            "POST",
            f"/repos/{self.name}/{repo}/contents/metadata/_bulk_get",
            params={"session_id": session},
            json=paths,
        )
        return {doc["path"] for doc in found}

    def v1_commit(self, repo: str, session: str, message: str = "m") -> str:
        """A commit of the session on the seeded commit (on no branch)."""
        return new_v1_commit(self.admin_ok, self.name, repo, session, self.v1_seed(repo).commit, message)

    def close(self) -> None:
        for step in reversed(self.teardown):
            step()


@dataclass(frozen=True)
class V1Seed:
    """A V1 repo's history: ``main`` at ``commit``, made by ``session`` of ``GROUP`` and ``CHUNK``, tagged
    ``TAG``."""

    repo: str
    session: str
    commit: str


V1_GROUP = "meta/root.group.json"
V1_CHUNK = "data/root/a/c0"
V1_TAG = "t0"
AUTHOR = "matrix@example.com"
Ok = Callable[..., Any]


def new_v1_session(ok: Ok, org: str, seed: V1Seed | None, message: str | None = None, repo: str = "") -> str:
    body = {"branch": "main", "base_commit": seed.commit if seed else None, "author_email": AUTHOR}
    made = ok(
        "POST", f"/repos/{org}/{seed.repo if seed else repo}/sessions", 201, json={**body, "message": message}
    )
    return str(made["_id"])


def set_v1_docs(
    ok: Ok, org: str, repo: str, session: str, paths: list[str], collection: str = "metadata"
) -> None:
    docs = [{"session_id": session, "path": path, "content": v1_content(path, session)} for path in paths]
    path = f"/repos/{org}/{repo}/contents/{collection}/_bulk_set"
    ok("PUT", path, params={"session_id": session}, json=docs)


def v1_content(path: str, session: str) -> dict[str, Any]:
    if path.startswith("data/"):
        return {
            "uri": "inline://abc",
            "offset": 0,
            "length": 3,
            "hash": {"method": "hashlib.sha256", "token": "ab"},
            "v": 1,
            "sid": session,
        }
    return {"attributes": {"matrix": True}}


def new_v1_commit(ok: Ok, org: str, repo: str, session: str, parent: str | None, message: str) -> str:
    body = {
        "session_id": session,
        "session_start_time": "2026-01-01T00:00:00Z",
        "parent_commit": parent,
        "commit_time": "2026-01-01T00:00:00Z",
        "author_email": AUTHOR,
        "message": message,
    }
    return str(ok("PUT", f"/repos/{org}/{repo}/commits", 201, json=body)["_id"])


def seed_v1(ok: Ok, org: str, repo: str) -> V1Seed:
    """A V1 repo with one commit on ``main`` (a group and a chunk), tagged."""
    session = new_v1_session(ok, org, None, repo=repo)
    set_v1_docs(ok, org, repo, session, [V1_GROUP])
    set_v1_docs(ok, org, repo, session, [V1_CHUNK], "chunks")
    commit = new_v1_commit(ok, org, repo, session, None, "seed")
    ok(
        "PUT",
        f"/repos/{org}/{repo}/branches",
        json={"branch": "main", "new_commit": commit, "new_branch": True},
    )
    tag = {"label": V1_TAG, "commit_id": commit, "author_email": AUTHOR}
    ok("PUT", f"/repos/{org}/{repo}/tags", 201, json=tag)
    return V1Seed(repo, session, commit)


def new_user(service: ArraylakeService, email: str, org: str, role: str | None) -> str:
    """A user with the tests' password, a member of ``org`` if given a role; their id."""
    made = create_user_account(
        service.settings,
        email=email,
        password=PASSWORD,
        first_name="Ada",
        family_name="Lovelace",
        org=org if role else None,
        role=OrgRole(role or "member"),
    )
    return asyncio.run(made)


def device_login(world_http: httpx.Client, service: ArraylakeService, email: str) -> str:
    """Log a user in with the device flow (approved with form posts); their id token."""
    started = world_http.post("/oauth/device/code", data={"client_id": CLIENT_ID, "scope": "openid"})
    assert started.status_code == 200, started.text
    codes = started.json()
    browser = sign_in(service, email)
    try:
        approved = decide(browser, codes["user_code"])
        assert approved.status_code == 200 and "Device connected" in approved.text, approved.text
    finally:
        browser.close()
    tokens = world_http.post(
        "/oauth/token",
        data={"grant_type": DEVICE_GRANT, "device_code": codes["device_code"], "client_id": CLIENT_ID},
    )
    assert tokens.status_code == 200, tokens.text
    return tokens.json()["id_token"]


def build_world(service: ArraylakeService, http: httpx.Client) -> World:
    """The target org, its resources and every principal of ``SPECS``."""
    org = service.new_org("matrix")
    other = service.new_org("outside")
    admin = {"authorization": bearer(org.token)}

    def ok(method: str, path: str, status: int = 200, headers: dict | None = None, **kwargs: Any) -> Any:
        response = http.request(method, path, headers=headers or admin, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else None

    def new_client(role: str, **extra: Any) -> dict[str, Any]:
        body = {"name": unique(f"matrix-{role}"), "role": role, **extra}
        return ok("POST", f"/orgs/{org.name}/api-clients", 201, json=body)

    # The expired token first: it must be past its expiry (under a second) once the setup is done.
    expired = new_client("repo_reader", expires_in_days=0.00001)
    expires_at = time.monotonic() + 0.00001 * 86400

    tag = uuid.uuid4().hex[:6]
    granted, plain = f"granted-{tag}", f"plain-{tag}"
    for name in (granted, plain):
        ok("POST", f"/orgs/{org.name}/repos", 201, json={"name": name, "metadata": {"project": name}})
    bucket_ids = {"local": ok("GET", f"/orgs/{org.name}/buckets", params={"nickname": "local"})[0]["id"]}
    made: dict[str, Any] = {}
    for nickname in (f"vault-{tag}", f"scratch-{tag}"):
        body = {"nickname": nickname, "platform": "local", "name": nickname}
        made[nickname] = ok("POST", f"/orgs/{org.name}/buckets", 201, json=body)
        bucket_ids[nickname] = made[nickname]["id"]
    policy = {"bucket_id": bucket_ids[f"vault-{tag}"], "subprefix": ""}
    ok("PUT", f"/orgs/{org.name}/settings/virtual-chunk-access-policies", json=policy)
    scratch = f"scratch-{tag}"
    scratch_path = made[scratch]["extra_config"]["local_path"]
    v1: dict[str, V1Seed] = {}
    for target in ("granted", "plain"):
        name = f"v1-{target}-{tag}"
        ok(
            "POST",
            f"/orgs/{org.name}/repos",
            201,
            json={"name": name, "kind": "v1", "bucket_nickname": scratch},
        )
        v1[target] = seed_v1(ok, org.name, name)

    bystander_made = new_client("repo_reader")
    bystander = Principal(
        BYSTANDER,
        bearer(bystander_made["token"]["token"]),
        id=bystander_made["client"]["_id"],
        email=bystander_made["client"]["email"],
    )

    principals: dict[str, Principal] = {}

    def add(name: str, authorization: str | None, principal_id: str = "", email: str = "") -> None:
        principals[name] = Principal(SPEC[name], authorization, principal_id, email)

    add("anonymous", None)
    add("not_a_token", "Bearer not-a-token")
    add("ema_short", "Bearer ema_short")
    revoked = new_client("repo_reader")
    ok(
        "DELETE",
        f"/orgs/{org.name}/api-clients/{revoked['client']['_id']}/tokens/{revoked['token']['id']}",
        204,
    )
    add("revoked_token", bearer(revoked["token"]["token"]))
    disabled = new_client("repo_reader")
    ok("DELETE", f"/orgs/{org.name}/api-clients/{disabled['client']['_id']}", 204)
    add("revoked_client", bearer(disabled["token"]["token"]))
    add("expired_token", bearer(expired["token"]["token"]))

    for name, token in (("other_org_admin", other.token), ("org_admin", org.token)):
        me = ok("GET", "/user", headers={"authorization": bearer(token)})
        add(name, bearer(token), me["id"], me["email"])
    for name in ("client_admin", "client_writer", "client_reader", "client_member"):
        made = new_client(SPEC[name].role or "")
        add(name, bearer(made["token"]["token"]), made["client"]["_id"], made["client"]["email"])

    # Users are made in-process by the code behind ``arraylake server user create`` (as ``new_org`` runs
    # ``server init``'s): the command itself would spend seconds per user starting Python.
    users = ("user_writer", "user_member_granted", "user_grant_only")
    emails = {name: f"{name.replace('_', '-')}-{tag}@example.com" for name in users}
    user_ids = {name: new_user(service, email, org.name, SPEC[name].role) for name, email in emails.items()}
    for name, email in emails.items():
        if SPEC[name].grants:
            body = {"principal": email, "actions": sorted(SPEC[name].grants)}
            for repo in (granted, v1["granted"].repo):
                ok("POST", f"/repos/{org.name}/{repo}/grants", json=body)
        add(name, bearer(device_login(http, service, email)), user_ids[name], email)

    world = World(
        service=service,
        http=http,
        org=org,
        other=other,
        granted=granted,
        plain=plain,
        bucket_ids=bucket_ids,
        scratch=scratch,
        scratch_path=scratch_path,
        bystander=bystander,
        bystander_token=bystander_made["token"]["token"],
        v1=v1,
        principals=principals,
        created_orgs={name: [] for name in principals},
    )
    time.sleep(max(0.0, expires_at - time.monotonic()) + 0.2)
    return world
