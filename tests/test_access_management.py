"""Access management through the Python client, end to end: orgs, members and roles, repo grants, API
clients and tokens, permission checks, and secrets kept out of logs and the catalog.

The service is a real process (SQLite and PostgreSQL catalogs). Users are made with ``arraylake server user
create`` and log in with the device flow; four of them are shared by the module, and every test makes its
own orgs, so the tests do not interfere. Every refusal is checked to have changed nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from arraylake import AsyncClient, Client
from arraylake.exceptions import (
    ArraylakeAuthenticationError,
    ArraylakeClientError,
    ArraylakeConflictError,
    ArraylakeHttpError,
    ArraylakeNotFoundError,
    ArraylakePermissionError,
    ArraylakeValidationError,
)
from arraylake.types import (
    ApiClientInfo,
    ApiTokenInfo,
    OrgActions,
    OrgRole,
    PrincipalKind,
    RepoActions,
    UserInfo,
)
from tests.support.access import (
    Person,
    create_user,
    device_login,
    new_people,
    new_team_org,
    new_team_org_async,
    raw_http,
    read_values,
    unique,
    write_values,
)
from tests.support.clients import make_client
from tests.support.service import ArraylakeService, Org
from tests.support.users import PendingLogin, decide, post_login, sign_in, token_file

CLIENT_ID = "arraylake-python"


@dataclass
class People:
    """Users of the shared service (none is in an org yet) and an unrelated org with its admin token."""

    service: ArraylakeService
    alice: Person  # makes orgs and administers them
    bob: Person  # becomes a member
    carol: Person  # gets repo grants without being a member
    dave: Person  # gets CAN_MANAGE_USERS on a repo, or is a plain member
    other: Org


@pytest.fixture(scope="module")
def people(service: ArraylakeService) -> People:
    return People(
        service, *new_people(service, "alice", "bob", "carol", "dave"), other=service.new_org("other")
    )


def members(client: Client, org: str) -> dict[str, tuple[str, str]]:
    """principal id -> (kind, role)."""
    return {str(m.principal_id): (m.kind.value, m.role.value) for m in client.list_org_members(org)}


def grants(found: list) -> dict[str, list[str]]:
    """principal id -> granted actions, from a list of ``RepoGrant``."""
    return {str(g.principal_id): sorted(a.value for a in g.actions) for g in found}


def names(repos: Any) -> list[str]:
    return sorted(r.name for r in repos)


def status_of(error: pytest.ExceptionInfo[ArraylakeHttpError]) -> int:
    return error.value.status_code


# ------------------------------------------------------------------------------------------------ 1. orgs


def test_user_logs_in_and_creates_org(people: People, home: Path) -> None:
    service = people.service
    email = f"{unique('founder')}@example.com"
    user_id = create_user(service, email)
    client = Client(service.url)
    pending = PendingLogin(client).start()
    assert pending.code is not None
    assert decide(sign_in(service, email), pending.code.user_code).status_code == 200
    pending.finish(timeout=60)
    assert token_file(home, service).exists()

    me = client.get_user()
    assert isinstance(me, UserInfo) and str(me.id) == user_id and me.email == email
    assert client.list_orgs() == []

    name = unique("founded")
    org = client.create_org(name, display_name="Founded by a test")
    assert org.name == name and org.display_name == "Founded by a test" and org.created_by == user_id
    assert [o.name for o in client.list_orgs()] == [name]
    assert members(client, name) == {user_id: ("user", "admin")}
    # the creator is admin: they can do admin things at once
    bucket = client.create_bucket_config(org=name, nickname="local", uri="file://local")
    client.set_default_bucket_config(org=name, nickname="local")
    client.create_repo(f"{name}/first")
    assert names(client.list_repos(name)) == ["first"]
    assert bucket.nickname == "local"

    # the name is taken now, for everyone
    with pytest.raises(ArraylakeConflictError) as taken:
        client.create_org(name)
    assert status_of(taken) == 409 and name in str(taken.value)
    with pytest.raises(ArraylakeConflictError):
        people.bob.client().create_org(name)
    assert [o.name for o in client.list_orgs()] == [name]
    assert members(client, name) == {user_id: ("user", "admin")}

    # a bad name never leaves the client
    with pytest.raises(ValueError):
        client.create_org("Not A Valid Name!")
    assert [o.name for o in client.list_orgs()] == [name]


def test_api_client_cannot_create_orgs(people: People) -> None:
    bot = Client(people.service.url, token=people.other.token)
    assert [o.name for o in bot.list_orgs()] == [people.other.name]
    wanted = unique("by-bot")
    with pytest.raises(ArraylakePermissionError) as refused:
        bot.create_org(wanted)
    assert status_of(refused) == 403 and "API clients" in str(refused.value)
    assert [o.name for o in bot.list_orgs()] == [people.other.name]
    # nothing was created: the name is still free
    alice = people.alice.client()
    assert alice.create_org(wanted).name == wanted
    assert members(alice, wanted) == {people.alice.id: ("user", "admin")}


def test_create_org_keeps_description(people: People) -> None:
    client = people.alice.client()
    name = unique("described")
    created = client.create_org(name, display_name="Described", description="what this org is for")
    assert created.description == "what this org is for"
    listed = {o.name: o for o in client.list_orgs()}
    assert listed[name].description == "what this org is for"


# --------------------------------------------------------------------------------------------- 2. members


def test_member_rights_follow_role_at_once(people: People) -> None:
    alice, bob = people.alice, people.bob
    admin = alice.client()
    org = new_team_org(admin)
    write_values(admin.create_repo(f"{org}/data"), np.arange(8), "first")
    b = bob.client()
    with pytest.raises(ArraylakeNotFoundError):
        b.list_repos(org)  # not a member: the org is invisible

    added = admin.add_org_member(org, bob.email, role=OrgRole.REPO_READER)
    assert str(added.principal_id) == bob.id and added.email == bob.email
    assert added.kind == PrincipalKind.USER and added.role == OrgRole.REPO_READER
    assert members(admin, org) == {alice.id: ("user", "admin"), bob.id: ("user", "repo_reader")}
    listed = {str(m.principal_id): m for m in admin.list_org_members(org)}
    assert listed[bob.id].email == bob.email and listed[alice.id].email == alice.email
    assert org in [o.name for o in b.list_orgs()]

    # a reader reads every repo, but creates none and manages nobody
    assert names(b.list_repos(org)) == ["data"]
    np.testing.assert_array_equal(read_values(b.get_repo(f"{org}/data")), np.arange(8))
    assert members(b, org) == members(admin, org)  # members may see who is in the org
    with pytest.raises(ArraylakePermissionError) as refused:
        b.create_repo(f"{org}/by-bob")
    assert status_of(refused) == 403 and "repo_reader" in str(refused.value)
    with pytest.raises(ArraylakePermissionError):
        b.add_org_member(org, people.carol.email)
    with pytest.raises(ArraylakePermissionError):
        b.set_org_member_role(org, bob.email, OrgRole.ADMIN)
    with pytest.raises(ArraylakePermissionError):
        b.remove_org_member(org, alice.email)
    assert names(admin.list_repos(org)) == ["data"]
    assert members(admin, org) == {alice.id: ("user", "admin"), bob.id: ("user", "repo_reader")}

    # promoted: the very next request may create repos
    changed = admin.set_org_member_role(org, bob.email, OrgRole.REPO_WRITER)
    assert changed.role == OrgRole.REPO_WRITER and str(changed.principal_id) == bob.id
    write_values(b.create_repo(f"{org}/by-bob"), np.ones(4), "bob's")
    assert names(admin.list_repos(org)) == ["by-bob", "data"]

    # demoted to plain member (named by id this time): repos are out of reach at once
    assert admin.set_org_member_role(org, bob.id, "member").role == OrgRole.MEMBER
    assert b.list_repos(org) == []
    with pytest.raises(ArraylakePermissionError):
        b.get_repo(f"{org}/data")
    with pytest.raises(ArraylakePermissionError):
        b.create_repo(f"{org}/again")

    # removed: the org is gone from their view, and their repo stays
    admin.remove_org_member(org, bob.email)
    assert members(admin, org) == {alice.id: ("user", "admin")}
    with pytest.raises(ArraylakeNotFoundError):
        b.list_repos(org)
    assert org not in [o.name for o in b.list_orgs()]
    assert names(admin.list_repos(org)) == ["by-bob", "data"]


def test_member_refusals_change_nothing(people: People) -> None:
    alice, bob = people.alice, people.bob
    admin = alice.client()
    org = new_team_org(admin)
    admin.add_org_member(org, bob.email, role=OrgRole.REPO_READER)
    before = members(admin, org)
    assert before == {alice.id: ("user", "admin"), bob.id: ("user", "repo_reader")}

    # an address without an account is invited, not refused: the answer must not tell the two apart
    invited = admin.add_org_member(org, f"{unique('nobody')}@example.com", role=OrgRole.REPO_WRITER)
    admin.remove_org_member(org, str(invited.principal_id))
    with pytest.raises(ArraylakeConflictError) as twice:
        admin.add_org_member(org, bob.email, role=OrgRole.ADMIN)
    assert status_of(twice) == 409 and "already a member" in str(twice.value)
    with pytest.raises(ArraylakeConflictError):
        admin.add_org_member(org, bob.id)  # by id, as a plain member this time
    # not members: nothing to change or remove
    with pytest.raises(ArraylakeNotFoundError):
        admin.set_org_member_role(org, people.carol.email, OrgRole.ADMIN)
    with pytest.raises(ArraylakeNotFoundError):
        admin.remove_org_member(org, people.carol.email)

    # a role that does not exist: the client refuses before sending; the service answers 422
    with pytest.raises(ValueError) as local:
        admin.add_org_member(org, people.carol.email, role="owner")
    assert not isinstance(local.value, ArraylakeHttpError)
    with pytest.raises(ValueError) as local:
        admin.set_org_member_role(org, bob.email, "superuser")
    assert not isinstance(local.value, ArraylakeHttpError)
    with alice.http() as http:
        posted = http.post(f"/orgs/{org}/members", json={"principal": people.carol.email, "role": "owner"})
        assert posted.status_code == 422, posted.text
        patched = http.patch(f"/orgs/{org}/members/{bob.email}", json={"role": "superuser"})
        assert patched.status_code == 422, patched.text

    # the last admin can neither leave nor step down
    with pytest.raises(ArraylakeConflictError) as leaving:
        admin.remove_org_member(org, alice.email)
    assert status_of(leaving) == 409 and "last admin" in str(leaving.value)
    with pytest.raises(ArraylakeConflictError) as stepping_down:
        admin.set_org_member_role(org, alice.id, OrgRole.REPO_WRITER)
    assert status_of(stepping_down) == 409 and "last admin" in str(stepping_down.value)

    # API clients of another org cannot join, by id or by email
    outsider = Client(people.service.url, token=people.other.token).create_api_client(
        people.other.name, "outsider", role=OrgRole.REPO_READER
    )
    with pytest.raises(ArraylakeNotFoundError):
        admin.add_org_member(org, str(outsider.client.id), role=OrgRole.ADMIN)
    # by email the answer is that of any address without an account: an invitation, not the API client
    invited = admin.add_org_member(org, outsider.client.email, role=OrgRole.ADMIN)
    assert invited.principal_id != outsider.client.id and invited.kind == PrincipalKind.USER
    admin.remove_org_member(org, str(invited.principal_id))
    assert members(admin, org) == before
    assert [o.name for o in admin.list_orgs() if o.name == org] == [org]

    # with a second admin the first may step down; then the second is the last one
    admin.set_org_member_role(org, bob.email, OrgRole.ADMIN)
    admin.set_org_member_role(org, alice.email, OrgRole.REPO_WRITER)
    with pytest.raises(ArraylakePermissionError):
        admin.add_org_member(org, people.carol.email)  # alice is no longer admin
    b = bob.client()
    with pytest.raises(ArraylakeConflictError):
        b.remove_org_member(org, bob.email)
    with pytest.raises(ArraylakeConflictError):
        b.set_org_member_role(org, bob.id, OrgRole.MEMBER)
    assert members(b, org) == {alice.id: ("user", "repo_writer"), bob.id: ("user", "admin")}


def test_last_admin_survives_concurrent_demotions(people: People) -> None:
    """Two admins demoting each other at the same moment must not leave the org without an admin."""
    alice, bob = people.alice, people.bob

    async def race(org: str) -> list[Any]:
        a, b = alice.aclient(), bob.aclient()
        try:
            return await asyncio.gather(
                a.set_org_member_role(org, bob.email, OrgRole.MEMBER),
                b.set_org_member_role(org, alice.email, OrgRole.MEMBER),
                return_exceptions=True,
            )
        finally:
            await a.aclose()
            await b.aclose()

    admin = alice.client()
    for _ in range(3):
        org = unique("race")
        admin.create_org(org)
        admin.add_org_member(org, bob.email, role=OrgRole.ADMIN)
        outcome = asyncio.run(race(org))
        roles = [role for _kind, role in members(admin, org).values()]  # members may list members
        assert roles.count("admin") == 1, f"org {org}: {roles} after {outcome}"
        # The other is refused: by the last-admin check (409), or, when the first demotion had already
        # landed before its request was authorized, because it is no longer an admin (403).
        refused = [r for r in outcome if isinstance(r, BaseException)]
        assert len(refused) == 1, outcome
        assert isinstance(refused[0], ArraylakeConflictError | ArraylakePermissionError), outcome


# ------------------------------------------------------------------------------------------ 3. repo grants


def test_repo_grants_to_a_non_member(people: People) -> None:
    alice, carol = people.alice, people.carol
    admin = alice.client()
    org = new_team_org(admin)
    write_values(admin.create_repo(f"{org}/shared"), np.arange(8), "first")
    admin.create_repo(f"{org}/private")
    c = carol.client()
    with pytest.raises(ArraylakeNotFoundError):
        c.get_repo(f"{org}/shared")
    assert admin.list_repo_grants(f"{org}/shared") == []

    granted = admin.grant_repo_access(f"{org}/shared", carol.email, [RepoActions.CAN_READ])
    assert grants(granted) == {carol.id: ["CAN_READ"]}
    assert granted[0].email == carol.email and granted[0].kind == PrincipalKind.USER
    assert members(admin, org) == {alice.id: ("user", "admin")}  # a grant is not a membership

    # read that repo, and see nothing else of the org
    np.testing.assert_array_equal(read_values(c.get_repo(f"{org}/shared")), np.arange(8))
    assert c.get_repo_object(f"{org}/shared").name == "shared"
    assert names(c.list_repos(org)) == ["shared"]
    with pytest.raises(ArraylakeNotFoundError):
        c.get_repo(f"{org}/private")
    with pytest.raises(ArraylakeNotFoundError):
        c.get_repo_object(f"{org}/private")
    with pytest.raises(ArraylakeNotFoundError):
        c.get_repo(f"{org}/no-such-repo")
    with pytest.raises(ArraylakeNotFoundError):
        c.list_bucket_configs(org)
    with pytest.raises(ArraylakeNotFoundError):
        c.get_bucket_config(org=org, nickname="local")
    with pytest.raises(ArraylakeNotFoundError):
        c.create_repo(f"{org}/by-carol")
    assert names(admin.list_repos(org)) == ["private", "shared"]

    # CAN_WRITE (granted by id): carol commits, and the commit is hers
    granted = admin.grant_repo_access(f"{org}/shared", carol.id, [RepoActions.CAN_WRITE])
    assert grants(granted) == {carol.id: ["CAN_READ", "CAN_WRITE"]}
    assert grants(admin.list_repo_grants(f"{org}/shared")) == {carol.id: ["CAN_READ", "CAN_WRITE"]}
    assert admin.list_repo_grants(f"{org}/private") == []
    write_values(c.get_repo(f"{org}/shared"), np.arange(8) * 2, "by carol")
    repo = admin.get_repo(f"{org}/shared")
    np.testing.assert_array_equal(read_values(repo), np.arange(8) * 2)
    latest = next(iter(repo.ancestry(branch="main")))
    assert latest.message == "by carol" and latest.metadata.get("author_email") == carol.email
    # granting what is held already changes nothing
    again = admin.grant_repo_access(f"{org}/shared", carol.email, [RepoActions.CAN_READ, "CAN_WRITE"])
    assert grants(again) == {carol.id: ["CAN_READ", "CAN_WRITE"]}

    # take back one action, then everything: access ends at once
    left = admin.revoke_repo_access(f"{org}/shared", carol.email, [RepoActions.CAN_WRITE])
    assert grants(left) == {carol.id: ["CAN_READ"]}
    with pytest.raises(ArraylakeNotFoundError) as missing:
        admin.revoke_repo_access(f"{org}/shared", carol.email, [RepoActions.CAN_WRITE])
    assert status_of(missing) == 404
    with pytest.raises(ArraylakeNotFoundError):
        admin.revoke_repo_access(f"{org}/shared", people.dave.email)  # holds nothing there
    with pytest.raises(ArraylakeNotFoundError):
        admin.revoke_repo_access(f"{org}/private", carol.email)
    assert grants(admin.list_repo_grants(f"{org}/shared")) == {carol.id: ["CAN_READ"]}
    np.testing.assert_array_equal(read_values(c.get_repo(f"{org}/shared")), np.arange(8) * 2)

    assert admin.revoke_repo_access(f"{org}/shared", carol.email) == []
    with pytest.raises(ArraylakeNotFoundError):
        c.get_repo(f"{org}/shared")
    with pytest.raises(ArraylakeNotFoundError):
        c.list_repos(org)
    assert admin.list_repo_grants(f"{org}/shared") == []


def test_who_may_manage_grants(people: People) -> None:
    alice, bob, carol, dave = people.alice, people.bob, people.carol, people.dave
    admin = alice.client()
    org = new_team_org(admin)
    write_values(admin.create_repo(f"{org}/shared"), np.arange(4), "first")
    admin.create_repo(f"{org}/private")
    admin.add_org_member(org, bob.email, role=OrgRole.REPO_READER)

    # a repo reader reads, but manages no grants
    b = bob.client()
    with pytest.raises(ArraylakePermissionError) as refused:
        b.list_repo_grants(f"{org}/shared")
    assert status_of(refused) == 403
    with pytest.raises(ArraylakePermissionError):
        b.grant_repo_access(f"{org}/shared", carol.email, [RepoActions.CAN_READ])
    with pytest.raises(ArraylakePermissionError):
        b.grant_repo_access(f"{org}/shared", bob.email, [RepoActions.CAN_WRITE])
    assert admin.list_repo_grants(f"{org}/shared") == []
    with pytest.raises(ArraylakeNotFoundError):
        carol.client().get_repo(f"{org}/shared")

    # a holder of CAN_MANAGE_USERS on the repo (not even a member) manages its grants, and only there
    admin.grant_repo_access(f"{org}/shared", dave.email, [RepoActions.CAN_MANAGE_USERS])
    d = dave.client()
    assert grants(d.list_repo_grants(f"{org}/shared")) == {dave.id: ["CAN_MANAGE_USERS"]}
    np.testing.assert_array_equal(read_values(d.get_repo(f"{org}/shared")), np.arange(4))  # implied
    after = d.grant_repo_access(f"{org}/shared", carol.email, [RepoActions.CAN_READ])
    assert grants(after) == {dave.id: ["CAN_MANAGE_USERS"], carol.id: ["CAN_READ"]}
    np.testing.assert_array_equal(read_values(carol.client().get_repo(f"{org}/shared")), np.arange(4))
    assert grants(d.revoke_repo_access(f"{org}/shared", carol.id)) == {dave.id: ["CAN_MANAGE_USERS"]}
    with pytest.raises(ArraylakeNotFoundError):
        carol.client().get_repo(f"{org}/shared")
    with pytest.raises(ArraylakeNotFoundError):
        d.list_repo_grants(f"{org}/private")
    with pytest.raises(ArraylakeNotFoundError):
        d.grant_repo_access(f"{org}/private", carol.email, [RepoActions.CAN_READ])
    with pytest.raises(ArraylakeNotFoundError):
        d.list_org_members(org)
    assert admin.list_repo_grants(f"{org}/private") == []

    # bad requests: unknown action (refused locally, 422 from the service), no action, unknown people
    before = grants(admin.list_repo_grants(f"{org}/shared"))
    with pytest.raises(ValueError) as local:
        admin.grant_repo_access(f"{org}/shared", carol.email, ["CAN_FLY"])
    assert not isinstance(local.value, ArraylakeHttpError)
    with pytest.raises(ValueError) as local:
        admin.revoke_repo_access(f"{org}/shared", dave.email, ["CAN_FLY"])
    assert not isinstance(local.value, ArraylakeHttpError)
    with alice.http() as http:
        posted = http.post(
            f"/repos/{org}/shared/grants", json={"principal": carol.email, "actions": ["CAN_FLY"]}
        )
        assert posted.status_code == 422, posted.text
        deleted = http.delete(f"/repos/{org}/shared/grants/{dave.email}", params={"action": "CAN_FLY"})
        assert deleted.status_code == 422, deleted.text
    with pytest.raises(ArraylakeValidationError):
        admin.grant_repo_access(f"{org}/shared", carol.email, [])
    # an address without an account is invited, exactly as one with an account would be granted
    nobody = f"{unique('nobody')}@example.com"
    invited = admin.grant_repo_access(f"{org}/shared", nobody, [RepoActions.CAN_READ])
    assert [g.email for g in invited if g.email == nobody] == [nobody]
    admin.revoke_repo_access(f"{org}/shared", nobody)
    outsider = Client(people.service.url, token=people.other.token).create_api_client(
        people.other.name, "outsider"
    )
    with pytest.raises(ArraylakeNotFoundError):
        admin.grant_repo_access(f"{org}/shared", str(outsider.client.id), [RepoActions.CAN_READ])
    with pytest.raises(ArraylakeNotFoundError):
        admin.grant_repo_access(f"{org}/no-such-repo", carol.email, [RepoActions.CAN_READ])
    assert grants(admin.list_repo_grants(f"{org}/shared")) == before

    # API clients of the org can be granted too: a plain member client then reads that repo only
    bot = admin.create_api_client(org, "reader bot", role=OrgRole.MEMBER)
    bot_client = Client(people.service.url, token=bot.token.token.get_secret_value())
    with pytest.raises(ArraylakePermissionError):
        bot_client.get_repo(f"{org}/shared")
    granted = admin.grant_repo_access(f"{org}/shared", str(bot.client.id), [RepoActions.CAN_READ])
    assert grants(granted)[str(bot.client.id)] == ["CAN_READ"]
    assert {g.kind for g in granted} == {PrincipalKind.USER, PrincipalKind.API_CLIENT}
    np.testing.assert_array_equal(read_values(bot_client.get_repo(f"{org}/shared")), np.arange(4))
    assert names(bot_client.list_repos(org)) == ["shared"]


def test_revoked_api_client_leaves_no_grant_behind(people: People) -> None:
    admin = people.alice.client()
    org = new_team_org(admin, "stale")
    admin.create_repo(f"{org}/shared")
    bot = admin.create_api_client(org, "temp bot", role=OrgRole.MEMBER)
    bot_id = str(bot.client.id)
    admin.grant_repo_access(f"{org}/shared", bot_id, [RepoActions.CAN_READ])
    admin.grant_repo_access(f"{org}/shared", people.carol.email, [RepoActions.CAN_READ])
    assert set(grants(admin.list_repo_grants(f"{org}/shared"))) == {bot_id, people.carol.id}
    admin.revoke_api_client(org, bot_id)
    assert bot_id not in {str(m.principal_id) for m in admin.list_org_members(org)}
    # the revoked client is gone from the repo's grants too, as from the members
    listed = grants(admin.list_repo_grants(f"{org}/shared"))
    cleanup = "not tried"
    if bot_id in listed:
        try:
            admin.revoke_repo_access(f"{org}/shared", bot_id)
            cleanup = "worked"
        except ArraylakeHttpError as exc:
            cleanup = f"failed: {exc}"
    assert bot_id not in listed, (
        f"a revoked API client is still listed among the grants; revoking it {cleanup}"
    )
    assert set(grants(admin.list_repo_grants(f"{org}/shared"))) == {people.carol.id}


# -------------------------------------------------------------------------------- 4. API clients, tokens


def _about(moment: datetime | None, expected: datetime, slack: float = 60) -> bool:
    return moment is not None and abs((moment - expected).total_seconds()) < slack


def _client_info(found: list[ApiClientInfo], client_id: Any) -> ApiClientInfo:
    (info,) = [c for c in found if c.id == client_id]
    return info


async def test_api_clients_and_tokens(people: People) -> None:
    url = people.service.url
    admin = people.alice.aclient()
    org = await new_team_org_async(admin)
    await admin.create_repo(f"{org}/data")

    created = await admin.create_api_client(org, "ci bot", role=OrgRole.REPO_WRITER, expires_in_days=30)
    client_id = created.client.id
    first = created.token.token.get_secret_value()
    assert first.startswith("ema_") and first not in repr(created) and first not in str(created)
    assert created.client.name == "ci bot" and created.client.role == OrgRole.REPO_WRITER
    assert created.token.client_id == client_id and created.client.disabled_at is None
    assert _about(created.token.expires_at, datetime.now(UTC) + timedelta(days=30))

    unused = _client_info(await admin.list_api_clients(org), client_id).tokens
    assert len(unused) == 1 and unused[0].last_used_at is None

    # the token acts as the client, with its role
    bot = AsyncClient(url, token=first)
    me = await bot.get_user()
    assert (
        isinstance(me, ApiTokenInfo) and me.client_id == str(client_id) and me.email == created.client.email
    )
    assert created.token.expires_at is not None
    assert abs(me.expiration - created.token.expires_at.timestamp()) < 2
    await bot.create_repo(f"{org}/by-bot")
    assert names(await bot.list_repos(org)) == ["by-bot", "data"]
    with pytest.raises(ArraylakePermissionError):
        await bot.list_api_clients(org)
    with pytest.raises(ArraylakePermissionError):
        await bot.create_api_client(org, "child", role=OrgRole.ADMIN)
    with pytest.raises(ArraylakePermissionError):
        await bot.add_org_member(org, people.carol.email)
    roster = {str(m.principal_id): (m.kind, m.role) for m in await admin.list_org_members(org)}
    assert roster[str(client_id)] == (PrincipalKind.API_CLIENT, OrgRole.REPO_WRITER)

    # listed with its tokens' metadata, never the tokens
    info = _client_info(await admin.list_api_clients(org), client_id)
    assert info.name == "ci bot" and info.role == OrgRole.REPO_WRITER and info.email == created.client.email
    (summary,) = info.tokens
    assert summary.id == created.token.id and summary.hint == first[:8] and summary.name == "first token"
    assert _about(summary.created, datetime.now(UTC)) and summary.expires_at == created.token.expires_at
    assert summary.last_used_at is not None and summary.revoked_at is None
    with people.alice.http() as http:
        listing = http.get(f"/orgs/{org}/api-clients")
        assert listing.status_code == 200 and first not in listing.text and first[8:] not in listing.text
        assert http.get(f"/orgs/{org}/api-clients/{client_id}").json()["tokens"][0]["hint"] == first[:8]

    # rotate: a second token, then the first is revoked
    rotated = await admin.create_api_token(org, str(client_id), name="rotated", expires_in_days=1)
    second = rotated.token.get_secret_value()
    assert second != first and rotated.client_id == client_id
    assert _about(rotated.expires_at, datetime.now(UTC) + timedelta(days=1))
    bot2 = AsyncClient(url, token=second)
    assert (await bot2.get_user()).client_id == str(client_id)
    await admin.revoke_api_token(org, str(client_id), str(created.token.id))
    with pytest.raises(ArraylakeAuthenticationError) as rejected:
        await bot.get_user()
    assert status_of(rejected) == 401
    assert names(await bot2.list_repos(org)) == ["by-bot", "data"]
    with pytest.raises(ArraylakeNotFoundError):
        await admin.revoke_api_token(org, str(client_id), str(created.token.id))  # already revoked
    with pytest.raises(ArraylakeNotFoundError):
        await admin.revoke_api_token(org, str(client_id), str(uuid.uuid4()))
    tokens = {t.id: t for t in _client_info(await admin.list_api_clients(org), client_id).tokens}
    assert tokens[created.token.id].revoked_at is not None
    assert tokens[rotated.id].revoked_at is None and tokens[rotated.id].name == "rotated"
    assert tokens[rotated.id].last_used_at is not None

    # token lookup, for org admins only
    found = await admin.get_api_client_from_token(org, second)
    assert found.client_id == client_id and found.email == created.client.email
    assert found.expiration == rotated.expires_at
    assert await admin.get_api_client_id_from_token(org, second) == str(client_id)
    with pytest.raises(ArraylakeNotFoundError):
        await admin.get_api_client_from_token(org, first)  # revoked
    with pytest.raises(ArraylakeNotFoundError):
        await admin.get_api_client_from_token(org, people.other.token)  # another org's
    with pytest.raises(ArraylakeNotFoundError):
        await admin.get_api_client_id_from_token(org, "ema_" + "x" * 43)
    other_admin = AsyncClient(url, token=people.other.token)
    with pytest.raises(ArraylakeNotFoundError):
        await other_admin.get_api_client_from_token(people.other.name, second)  # ours, asked there
    with pytest.raises(ArraylakeNotFoundError):
        await other_admin.get_api_client_from_token(org, second)  # not their org
    with pytest.raises(ArraylakePermissionError):
        await bot2.get_api_client_from_token(org, second)  # a repo writer, even about itself

    # revoke the client: every token stops working, nothing more can be issued
    await admin.revoke_api_client(org, str(client_id))
    with pytest.raises(ArraylakeAuthenticationError):
        await bot2.get_user()
    with pytest.raises(ArraylakeNotFoundError):
        await admin.get_api_client_from_token(org, second)
    with pytest.raises(ArraylakeConflictError):
        await admin.create_api_token(org, str(client_id))
    info = _client_info(await admin.list_api_clients(org), client_id)
    assert info.disabled_at is not None and all(t.revoked_at is not None for t in info.tokens)
    assert str(client_id) not in {str(m.principal_id) for m in await admin.list_org_members(org)}
    with pytest.raises(ArraylakeNotFoundError):
        await admin.revoke_api_client(org, str(uuid.uuid4()))
    # an API client of another org is not ours to manage
    outsider = await other_admin.create_api_client(people.other.name, "outsider")
    with pytest.raises(ArraylakeNotFoundError):
        await admin.revoke_api_client(org, str(outsider.client.id))
    with pytest.raises(ArraylakeNotFoundError):
        await admin.create_api_token(org, str(outsider.client.id))
    outsider_client = AsyncClient(url, token=outsider.token.token.get_secret_value())
    assert (await outsider_client.get_user()).client_id == str(outsider.client.id)  # untouched
    for c in (admin, bot, bot2, other_admin, outsider_client):
        await c.aclose()


def test_expired_and_invalid_tokens(people: People) -> None:
    url = people.service.url
    admin = people.alice.client()
    org = new_team_org(admin)
    # ~3.5 s of life: used at once, then waited out
    created = admin.create_api_client(org, "short-lived", role=OrgRole.REPO_READER, expires_in_days=0.00004)
    token = created.token.token.get_secret_value()
    rotated = admin.create_api_token(org, str(created.client.id), expires_in_days=0.00004)
    assert created.token.expires_at is not None and rotated.expires_at is not None
    assert Client(url, token=token).list_repos(org) == []
    assert admin.get_api_client_id_from_token(org, token) == str(created.client.id)
    time.sleep(
        max(0.0, (max(created.token.expires_at, rotated.expires_at) - datetime.now(UTC)).total_seconds())
    )
    time.sleep(0.5)
    for expired in (token, rotated.token.get_secret_value()):
        with pytest.raises(ArraylakeAuthenticationError) as rejected:
            Client(url, token=expired).list_repos(org)
        assert status_of(rejected) == 401 and "expired" in str(rejected.value)
        with pytest.raises(ArraylakeNotFoundError):
            admin.get_api_client_from_token(org, expired)
    # a lifetime must be positive and bounded
    before = [c.id for c in admin.list_api_clients(org)]
    for days in (0, -1, 5000):
        with pytest.raises(ArraylakeValidationError):
            admin.create_api_client(org, "bad lifetime", expires_in_days=days)
        with pytest.raises(ArraylakeValidationError):
            admin.create_api_token(org, str(created.client.id), expires_in_days=days)
    assert [c.id for c in admin.list_api_clients(org)] == before
    assert len(admin.list_api_clients(org)[0].tokens) == 2


@pytest.fixture
def cached_service(fresh_service: ArraylakeService) -> Iterator[ArraylakeService]:
    """A service that reuses token lookups for 30 s, and whose login id tokens live 3 s."""
    fresh_service.env.update(
        {"ARRAYLAKE_SERVER_TOKEN_CACHE_SECONDS": "30", "ARRAYLAKE_SERVER_ID_TOKEN_SECONDS": "3"}
    )
    fresh_service.start()
    yield fresh_service


def test_token_cache_never_outlives_a_change_or_an_expiry(cached_service: ArraylakeService) -> None:
    service = cached_service
    org = service.new_org("cached")
    admin = Client(service.url, token=org.token)
    admin.create_repo(f"{org.name}/shared")
    email = f"{unique('cached')}@example.com"
    user_id = create_user(service, email, org=org.name, role="repo_reader")
    user = Client(service.url, token=device_login(service, email)["id_token"])

    # role changes and grants: each request after the change sees it
    assert names(user.list_repos(org.name)) == ["shared"]
    admin.set_org_member_role(org.name, email, OrgRole.MEMBER)
    assert user.list_repos(org.name) == []
    admin.grant_repo_access(f"{org.name}/shared", user_id, [RepoActions.CAN_READ])
    assert names(user.list_repos(org.name)) == ["shared"]
    admin.revoke_repo_access(f"{org.name}/shared", user_id)
    assert user.list_repos(org.name) == []
    admin.remove_org_member(org.name, email)
    with pytest.raises(ArraylakeNotFoundError):
        user.list_repos(org.name)

    # API tokens: revoked ones stop at once
    created = admin.create_api_client(org.name, "cached bot", role=OrgRole.REPO_READER)
    bot = Client(service.url, token=created.token.token.get_secret_value())
    assert names(bot.list_repos(org.name)) == ["shared"]
    admin.revoke_api_client(org.name, str(created.client.id))
    with pytest.raises(ArraylakeAuthenticationError):
        bot.list_repos(org.name)

    # expiry: a token used (and so cached) just before it expires must not outlive its expiry
    # (the API token lives ~2.6 s, the login's id token 3 s)
    short = admin.create_api_client(org.name, "short bot", role=OrgRole.REPO_READER, expires_in_days=0.00003)
    short_bot = Client(service.url, token=short.token.token.get_secret_value())
    login_expires = time.monotonic() + 3
    late_user = Client(service.url, token=device_login(service, email)["id_token"])
    assert names(short_bot.list_repos(org.name)) == ["shared"] and late_user.list_orgs() == []
    assert short.token.expires_at is not None
    time.sleep(max(0.0, (short.token.expires_at - datetime.now(UTC)).total_seconds()) + 0.5)
    time.sleep(max(0.0, login_expires - time.monotonic()) + 0.5)
    still_accepted = []
    for what, call in [("API token", lambda: short_bot.list_repos(org.name)), ("login", late_user.list_orgs)]:
        try:
            call()
            still_accepted.append(what)
        except ArraylakeAuthenticationError:
            pass
    assert still_accepted == [], f"expired, yet accepted from the token cache: {still_accepted}"


def test_last_admin_api_client_cannot_be_revoked(people: People) -> None:
    org = people.service.new_org("solo")
    admin = Client(people.service.url, token=org.token)
    (me,) = [c for c in admin.list_api_clients(org.name)]
    assert me.role == OrgRole.ADMIN
    with pytest.raises(ArraylakeConflictError) as refused:
        admin.revoke_api_client(org.name, str(me.id))
    assert status_of(refused) == 409 and "last admin" in str(refused.value)
    assert admin.list_api_clients(org.name)[0].disabled_at is None
    assert admin.get_user().client_id == str(me.id)


# ----------------------------------------------------------------------------------- 5. permission checks


ORG_ACTIONS = list(OrgActions)
# CAN_MANAGE_USERS is both an OrgActions and a RepoActions value: asked about a repo, see the test after next
REPO_ACTIONS = [a for a in RepoActions if a != RepoActions.CAN_MANAGE_USERS]


@pytest.fixture(scope="module")
def permission_world(people: People) -> dict[str, Any]:
    """An org: alice admin, bob repo_reader, dave member, carol granted CAN_WRITE on `shared`, and an API
    client with role repo_writer."""
    admin = people.alice.client()
    org = new_team_org(admin, "perm")
    admin.create_repo(f"{org}/shared")
    admin.create_repo(f"{org}/private")
    admin.add_org_member(org, people.bob.email, role=OrgRole.REPO_READER)
    admin.add_org_member(org, people.dave.email, role=OrgRole.MEMBER)
    admin.grant_repo_access(f"{org}/shared", people.carol.email, [RepoActions.CAN_WRITE])
    bot = admin.create_api_client(org, "writer bot", role=OrgRole.REPO_WRITER)
    return {"org": org, "bot_id": str(bot.client.id), "bot_token": bot.token.token.get_secret_value()}


# who -> the OrgActions they hold, and the RepoActions they hold on `shared` and on `private`
EXPECTED: dict[str, tuple[set[str], set[str], set[str]]] = {
    "alice": (set(OrgActions), set(REPO_ACTIONS), set(REPO_ACTIONS)),
    "bob": (
        {"CAN_READ_REPOS", "CAN_READ_REPOS_WITH_FLUX"},
        {"CAN_READ", "CAN_READ_WITH_FLUX"},
        {"CAN_READ", "CAN_READ_WITH_FLUX"},
    ),
    "dave": (set(), set(), set()),
    "carol": (set(), {"CAN_READ", "CAN_WRITE"}, set()),
    "bot": (
        {"CAN_WRITE_REPOS", "CAN_READ_REPOS", "CAN_READ_REPOS_WITH_FLUX"},
        {"CAN_READ", "CAN_READ_WITH_FLUX", "CAN_WRITE", "CAN_SYNC"},
        {"CAN_READ", "CAN_READ_WITH_FLUX", "CAN_WRITE", "CAN_SYNC"},
    ),
}


@pytest.mark.parametrize("mode", ["sync", "async"])
async def test_permission_checks(people: People, permission_world: dict[str, Any], mode: str) -> None:
    url, org = people.service.url, permission_world["org"]
    ids = {
        "alice": people.alice.id,
        "bob": people.bob.id,
        "carol": people.carol.id,
        "dave": people.dave.id,
        "bot": permission_world["bot_id"],
    }
    admin = make_client(mode, url, people.alice.token)

    async def held(client: Any, who: str, resource: str, actions: list) -> set[str]:
        return {a.value for a in actions if await client.get_permission_check(org, ids[who], resource, a)}

    # an admin may ask about anyone; the answers follow roles and grants
    for who, (org_actions, on_shared, on_private) in EXPECTED.items():
        assert await held(admin, who, org, ORG_ACTIONS) == org_actions, who
        assert await held(admin, who, f"{org}/shared", REPO_ACTIONS) == on_shared, who
        assert await held(admin, who, "shared", REPO_ACTIONS) == on_shared, who  # REPO alone means this org
        assert await held(admin, who, f"{org}/private", REPO_ACTIONS) == on_private, who
        # a repo that does not exist: nobody may do anything there
        assert await held(admin, who, f"{org}/no-such-repo", REPO_ACTIONS) == set(), who
    assert not await admin.get_permission_check(org, str(uuid.uuid4()), org, OrgActions.CAN_READ_REPOS)
    assert not await admin.get_permission_check(org, str(uuid.uuid4()), "shared", RepoActions.CAN_READ)
    assert await admin.get_permission_check(org, ids["bob"], org, "CAN_READ_REPOS")  # plain strings too

    # others may ask about themselves only
    for who, token in [
        ("bob", people.bob.token),
        ("carol", people.carol.token),
        ("dave", people.dave.token),
        ("bot", permission_world["bot_token"]),
    ]:
        client = make_client(mode, url, token)
        org_actions, on_shared, on_private = EXPECTED[who]
        assert await held(client, who, org, ORG_ACTIONS) == org_actions, who
        assert await held(client, who, f"{org}/shared", REPO_ACTIONS) == on_shared, who
        assert await held(client, who, f"{org}/private", REPO_ACTIONS) == on_private, who
        assert not await client.get_permission_check(org, ids[who], "no-such-repo", RepoActions.CAN_READ)
        with pytest.raises(ArraylakeClientError) as refused:
            await client.get_permission_check(org, ids["alice"], org, OrgActions.CAN_MANAGE_USERS)
        # members get 403; carol, who only holds a grant, sees no more of the org than that repo
        assert status_of(refused) == (404 if who == "carol" else 403), who
    bob = make_client(mode, url, people.bob.token)
    with pytest.raises(ArraylakePermissionError):
        await bob.get_permission_check(org, ids["carol"], f"{org}/shared", RepoActions.CAN_READ)

    # bad questions: unknown action, an org action on a repo, a repo of another org, an unknown org
    with pytest.raises(ArraylakeValidationError) as unknown:
        await admin.get_permission_check(org, ids["bob"], org, "CAN_FLY")
    assert status_of(unknown) == 422 and "CAN_FLY" in str(unknown.value)
    with pytest.raises(ArraylakeValidationError):
        await bob.get_permission_check(org, ids["bob"], "shared", "CAN_FLY")
    with pytest.raises(ArraylakeValidationError):
        await admin.get_permission_check(org, ids["bob"], f"{org}/shared", OrgActions.CAN_READ_REPOS)
    with pytest.raises(ArraylakeValidationError):
        await admin.get_permission_check(org, ids["bob"], f"{people.other.name}/x", RepoActions.CAN_READ)
    with pytest.raises(ArraylakeNotFoundError):
        await admin.get_permission_check(people.other.name, ids["alice"], people.other.name, "CAN_READ_REPOS")

    if mode == "async":
        for client in (admin, bob):
            await client.aclose()


def test_permission_checks_follow_changes(people: People) -> None:
    admin = people.alice.client()
    org = new_team_org(admin, "perm-change")
    admin.create_repo(f"{org}/shared")
    admin.add_org_member(org, people.bob.email, role=OrgRole.REPO_READER)
    bob = people.bob.client()

    def check(who: Person, resource: str, action: Any, asker: Client = admin) -> bool:
        return asker.get_permission_check(org, who.id, resource, action)

    assert not check(people.bob, org, OrgActions.CAN_WRITE_REPOS)
    assert not check(people.bob, "shared", RepoActions.CAN_WRITE, asker=bob)
    admin.set_org_member_role(org, people.bob.email, OrgRole.REPO_WRITER)
    assert check(people.bob, org, OrgActions.CAN_WRITE_REPOS)
    assert check(people.bob, "shared", RepoActions.CAN_WRITE, asker=bob)
    admin.remove_org_member(org, people.bob.email)
    assert not check(people.bob, org, OrgActions.CAN_READ_REPOS)
    assert not check(people.bob, "shared", RepoActions.CAN_READ)

    assert not check(people.carol, "shared", RepoActions.CAN_READ)
    admin.grant_repo_access(f"{org}/shared", people.carol.email, [RepoActions.CAN_SYNC])
    assert check(people.carol, "shared", RepoActions.CAN_SYNC)
    assert check(people.carol, "shared", RepoActions.CAN_READ)  # implied by CAN_SYNC
    assert not check(people.carol, "shared", RepoActions.CAN_WRITE)
    admin.revoke_repo_access(f"{org}/shared", people.carol.email)
    assert not check(people.carol, "shared", RepoActions.CAN_SYNC)
    assert not check(people.carol, "shared", RepoActions.CAN_READ)


def test_permission_check_for_managing_a_repo(people: People) -> None:
    """RepoActions.CAN_MANAGE_USERS asked about a repo is a question about that repo, not about the org."""
    admin = people.alice.client()
    org = new_team_org(admin, "perm-manage")
    admin.create_repo(f"{org}/shared")
    admin.create_repo(f"{org}/private")
    admin.add_org_member(org, people.bob.email, role=OrgRole.REPO_WRITER)
    admin.grant_repo_access(f"{org}/shared", people.dave.email, [RepoActions.CAN_MANAGE_USERS])
    # what the grant allows in practice: dave manages the grants of `shared`, bob (a writer) does not
    assert people.dave.client().list_repo_grants(f"{org}/shared")
    with pytest.raises(ArraylakePermissionError):
        people.bob.client().list_repo_grants(f"{org}/shared")

    def may_manage(who: Person, resource: str) -> bool:
        return admin.get_permission_check(org, who.id, resource, RepoActions.CAN_MANAGE_USERS)

    assert not admin.get_permission_check(org, people.dave.id, org, OrgActions.CAN_MANAGE_USERS)
    assert admin.get_permission_check(org, people.alice.id, org, OrgActions.CAN_MANAGE_USERS)
    assert may_manage(people.dave, f"{org}/shared")
    assert not may_manage(people.dave, f"{org}/private")
    assert not may_manage(people.bob, f"{org}/shared")
    assert may_manage(people.alice, f"{org}/private")
    assert people.dave.client().get_permission_check(
        org, people.dave.id, f"{org}/shared", RepoActions.CAN_MANAGE_USERS
    )


# ------------------------------------------------------------------------------------------------ 6. secrets


@pytest.fixture
def quick_login_service(fresh_service: ArraylakeService) -> Iterator[ArraylakeService]:
    fresh_service.env.update({"ARRAYLAKE_SERVER_DEVICE_POLL_SECONDS": "1"})
    fresh_service.start()
    yield fresh_service


def test_no_password_or_token_in_log_or_catalog(quick_login_service: ArraylakeService, home: Path) -> None:
    service = quick_login_service
    password = f"Sw0rdfish and {uuid.uuid4().hex}"
    email = f"{unique('secretive')}@example.com"
    create_user(service, email, password=password)

    # a login through the client, with its id, access and refresh tokens saved in the token file
    client = Client(service.url)
    pending = PendingLogin(client).start()
    assert pending.code is not None
    assert decide(sign_in(service, email, password), pending.code.user_code).status_code == 200
    pending.finish()
    saved = json.loads(token_file(home, service).read_text())
    secrets = {
        "password": password,
        "login id token": saved["id_token"],
        "login access token": saved["access_token"],
        "login refresh token": saved["refresh_token"],
    }
    # a wrong password is a near-secret too
    wrong = post_login(httpx.Client(base_url=service.url), email, password + "!")
    assert wrong.status_code == 401

    # a second login, refreshed by hand: both refresh tokens and the new id token
    other = device_login(service, email, password)
    refreshed = httpx.post(
        f"{service.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"], "client_id": CLIENT_ID},
    )
    assert refreshed.status_code == 200, refreshed.text
    secrets |= {
        "second id token": other["id_token"],
        "second refresh token": other["refresh_token"],
        "refreshed id token": refreshed.json()["id_token"],
        "refreshed refresh token": refreshed.json()["refresh_token"],
    }

    # API tokens: created, used, rotated, looked up (the lookup sends the token in a query string)
    org = new_team_org(client, "secrets")
    created = client.create_api_client(org, "bot", role=OrgRole.REPO_WRITER)
    first = created.token.token.get_secret_value()
    second = client.create_api_token(org, str(created.client.id), name="second").token.get_secret_value()
    Client(service.url, token=first).create_repo(f"{org}/by-bot")
    assert client.get_api_client_id_from_token(org, second) == str(created.client.id)
    client.revoke_api_token(org, str(created.client.id), str(created.token.id))
    with raw_http(service, first + "x") as http:
        bad = http.get("/user")
        assert bad.status_code == 401 and first not in bad.text
    with pytest.raises(ArraylakeAuthenticationError) as rejected:
        Client(service.url, token=first).list_repos(org)
    assert first not in str(rejected.value)
    secrets |= {"API token": first, "API token body": first[4:], "second API token": second}
    client.logout()
    service.stop()

    log = service.log_text()
    assert "/orgs/" in log and "/oauth/token" in log  # the log is there, with these requests in it
    leaked = [what for what, secret in secrets.items() if secret in log]
    assert leaked == [], f"in the service log: {leaked}"
    catalogs = sorted(service.data_dir.glob("catalog.db*"))
    assert catalogs
    for path in catalogs:
        data = path.read_bytes()
        leaked = [what for what, secret in secrets.items() if secret.encode() in data]
        assert leaked == [], f"in {path.name}: {leaked}"
