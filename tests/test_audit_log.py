"""The audit log's read side against real services on SQLite and PostgreSQL: listing with filters and
cursors, who may see what (org admins their org, operators everything), export and verify through the
command line, and tampering in the catalog that verification catches.

Each backend gets a service of its own (module-scoped): tampering breaks the chain, and no other test may
see that. Every tamper is undone before the next, and the chain verifies again afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from arraylake import Client
from arraylake.exceptions import ArraylakeNotFoundError, ArraylakePermissionError
from arraylake.server.audit.chain import entry_hash
from arraylake.server.audit.checkpoints import checkpoint_if_due
from arraylake.server.db.engine import make_engine
from arraylake.server.db.schema import AUDIT_HEAD_ID, audit_checkpoints, audit_head, audit_log
from arraylake.server.identity.signing import TokenSigner
from arraylake.types.audit import AuditEntry, AuditVerification
from tests.conftest import make_service
from tests.support.access import device_login
from tests.support.cli import Cli, Run, run
from tests.support.service import ArraylakeService, Org, run_coroutine
from tests.support.users import PASSWORD


@dataclass
class World:
    """A service with two orgs that did things, an operator, and a member without the admin role."""

    service: ArraylakeService
    a: Org
    b: Org
    repo_a: str
    repo_b: str
    member_token: str
    member_id: str
    operator_token: str
    secrets: list[str]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    operator = f"operator-{uuid.uuid4().hex[:8]}@example.com"
    # admin@example.com is the email of every org's admin API client: listed, it still is no operator.
    env = {"ARRAYLAKE_SERVER_OPERATORS": f"{operator.upper()}, admin@example.com"}
    service = make_service(tmp_path_factory.mktemp(f"audit-{request.param}"), request.param, request, env)
    service.start()
    try:
        a, b = service.new_org("audita"), service.new_org("auditb")
        secrets = [a.token, b.token]
        admin_a = Client(service.url, a.token)
        member = admin_a.create_api_client(a.name, "viewer", role="member")
        rotated = admin_a.create_api_token(a.name, str(member.client.id), name="rotated")
        secrets += [member.token.token.get_secret_value(), rotated.token.get_secret_value()]
        repo_a, repo_b = f"{a.name}/data-{uuid.uuid4().hex[:6]}", f"{b.name}/data-{uuid.uuid4().hex[:6]}"
        admin_a.create_repo(repo_a)
        Client(service.url, b.token).create_repo(repo_b)
        made = server_command(
            service, "user", "create", "--email", operator, "--password-stdin", stdin=PASSWORD + "\n"
        )
        assert made.exit_code == 0, made.stderr
        operator_token = device_login(service, operator)["id_token"]
        yield World(
            service,
            a,
            b,
            repo_a.split("/")[1],
            repo_b.split("/")[1],
            member.token.token.get_secret_value(),
            str(member.client.id),
            operator_token,
            secrets,
        )
    finally:
        service.stop()


def server_command(service: ArraylakeService, *args: str, stdin: str | None = None) -> Run:
    """``arraylake server ARGS... --data-dir DIR`` in this process, with the service's settings."""
    with pytest.MonkeyPatch.context() as patch:
        # the server commands pass their settings on through the environment: undo that afterwards
        for key, value in service.env.items():
            if key.startswith("ARRAYLAKE_SERVER_"):
                patch.setenv(key, value)
        return run("server", *args, "--data-dir", str(service.data_dir), input=stdin)


def get(world: World, path: str, token: str, **params: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    return httpx.get(world.service.url + path, params=params, headers=headers, timeout=60)


def entries_of(world: World, org: str | None, token: str, **filters: Any) -> list[AuditEntry]:
    return Client(world.service.url, token).list_audit_entries(org, **filters)


# ------------------------------------------------------------------------------------------------ listing


def test_an_org_admin_reads_their_org_and_nothing_else(world: World) -> None:
    mine = entries_of(world, world.a.name, world.a.token)
    actions = {e.action for e in mine}
    assert {"api_client.create", "token.create"} <= actions, actions
    assert {e.org for e in mine} == {world.a.name}
    theirs = entries_of(world, world.b.name, world.b.token)
    assert theirs and {e.org for e in theirs} == {world.b.name}
    assert not {e.seq for e in mine} & {e.seq for e in theirs}
    seqs = [e.seq for e in mine]
    assert seqs == sorted(seqs, reverse=True)
    with pytest.raises(ArraylakeNotFoundError):
        entries_of(world, world.b.name, world.a.token)


def test_a_member_without_the_admin_role_is_refused(world: World) -> None:
    response = get(world, f"/orgs/{world.a.name}/audit/entries", world.member_token)
    assert response.status_code == 403
    assert "audit log" in response.json()["detail"]
    assert get(world, f"/orgs/{world.a.name}/audit/verify", world.member_token).status_code == 403


def test_filters_by_action_domain_repo_principal_and_time(world: World) -> None:
    org = world.a.name
    everything = entries_of(world, org, world.a.token)
    exact = entries_of(world, org, world.a.token, action="token.create")
    assert exact and {e.action for e in exact} == {"token.create"}
    assert len(exact) == sum(e.action == "token.create" for e in everything)
    domain = entries_of(world, org, world.a.token, action="token.")
    assert "token.create" in {e.action for e in domain}
    assert all(e.action.startswith("token.") for e in domain)
    assert entries_of(world, org, world.a.token, action="token") == []  # no prefix without the dot

    about_repo = entries_of(world, org, world.a.token, repo=world.repo_a)
    assert "repo.create" in {e.action for e in about_repo}
    assert {e.repo for e in about_repo} == {world.repo_a}
    assert entries_of(world, org, world.a.token, repo=world.repo_b) == []  # the other org's repo

    by_member = [e for e in everything if e.actor_id == world.member_id]
    actor = next(e for e in everything if e.actor is not None)
    by_email = entries_of(world, org, world.a.token, principal=actor.actor)
    assert by_email and all(e.actor == actor.actor for e in by_email)
    by_id = entries_of(world, org, world.a.token, principal=actor.actor_id)
    assert [e.seq for e in by_id] == [e.seq for e in everything if e.actor_id == actor.actor_id]
    assert len(entries_of(world, org, world.a.token, principal=world.member_id)) == len(by_member)

    middle = everything[len(everything) // 2]
    since = entries_of(world, org, world.a.token, since=middle.at)
    until = entries_of(world, org, world.a.token, until=middle.at)
    assert all(e.at >= middle.at for e in since) and middle.seq in {e.seq for e in since}
    assert all(e.at <= middle.at for e in until) and middle.seq in {e.seq for e in until}
    later = entries_of(world, org, world.a.token, since=everything[0].at + timedelta(seconds=1))
    assert later == []
    assert entries_of(world, org, world.a.token, limit=2) == everything[:2]


def test_pages_follow_cursors_to_the_end(world: World) -> None:
    path = f"/orgs/{world.a.name}/audit/entries"
    everything = [e.seq for e in entries_of(world, world.a.name, world.a.token)]
    assert len(everything) >= 3
    seen: list[int] = []
    cursor: str | None = None
    while True:
        response = get(world, path, world.a.token, limit=2, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["seq"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "c2VxOi0x"},  # a well-formed cursor to a seq that cannot be
        {"limit": 0},
        {"limit": 1001},
        {"since": "yesterday"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_parameters_get_422(world: World, params: dict[str, Any]) -> None:
    response = get(world, f"/orgs/{world.a.name}/audit/entries", world.a.token, **params)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


# ---------------------------------------------------------------------------------------------- operators


def test_operators_read_every_org_and_the_org_filter_narrows(world: World) -> None:
    everything = entries_of(world, None, world.operator_token)
    orgs = {e.org for e in everything}
    assert {world.a.name, world.b.name} <= orgs
    only_b = entries_of(world, None, world.operator_token, repo=world.repo_b)
    assert only_b and {e.org for e in only_b} == {world.b.name}
    response = get(world, "/audit/entries", world.operator_token, org=world.b.name, limit=1000)
    assert response.status_code == 200
    assert {item["org"] for item in response.json()["items"]} == {world.b.name}
    assert get(world, "/audit/entries", world.operator_token, org="no-such-org").status_code == 404
    sign_in = entries_of(world, None, world.operator_token, action="auth.")
    assert all(e.action.startswith("auth.") for e in sign_in)


def test_org_admins_and_api_clients_are_no_operators(world: World) -> None:
    for path in ("/audit/entries", "/audit/verify"):
        response = get(world, path, world.a.token)  # an API client, its email listed as an operator
        assert response.status_code == 403
        assert "operators" in response.json()["detail"]
    with pytest.raises(ArraylakePermissionError):
        entries_of(world, None, world.b.token)


def test_no_secret_reaches_the_log(world: World, tmp_path: Path) -> None:
    cli = Cli(world.service.url, world.operator_token)
    exported = tmp_path / "all.jsonl"
    cli("audit", "export", "--output", str(exported))
    text = exported.read_text()
    assert text.count("\n") >= 6
    for secret in world.secrets:
        assert secret not in text
        assert secret.removeprefix("ema_") not in text


# -------------------------------------------------------------------------------------------- the CLI


def test_cli_list_export_and_verify(world: World, tmp_path: Path) -> None:
    cli = Cli(world.service.url, world.a.token)
    listed = cli.json("audit", "list", world.a.name, "--action", "token.", "--limit", "5")
    assert listed and all(item["action"].startswith("token.") for item in listed)
    table = cli("audit", "list", world.a.name, "--repo", world.repo_a).stdout
    assert "repo.create" in table and world.repo_a in table

    api = entries_of(world, world.a.name, world.a.token)
    streamed = cli("audit", "export", world.a.name).stdout.splitlines()
    exported = [AuditEntry.model_validate(json.loads(line)) for line in streamed]
    assert [e.seq for e in exported] == [e.seq for e in api]
    assert exported[-1] == api[-1]
    into = tmp_path / "a.jsonl"
    done = cli("audit", "export", world.a.name, "--action", "repo.", "--output", str(into))
    assert "Wrote" in done.stdout
    lines = [json.loads(line) for line in into.read_text().splitlines()]
    assert lines and all(line["action"].startswith("repo.") for line in lines)

    verified = cli("audit", "verify", world.a.name).stdout
    assert "OK" in verified
    bad = cli("audit", "list", world.a.name, "--since", "last tuesday", code=2)
    assert "ISO 8601" in bad.stderr


# -------------------------------------------------------------------------------------------- tampering


def catalog(world: World) -> Any:
    return make_engine(world.service.settings.resolved_database_url, pool_size=1)


def in_catalog[T](world: World, work: Any) -> T:
    """Run ``work(conn)`` in one transaction on the service's catalog."""

    async def run() -> T:
        engine = catalog(world)
        try:
            async with engine.begin() as conn:
                return await work(conn)  # type: ignore[no-any-return]
        finally:
            await engine.dispose()

    return run_coroutine(run())


def verify(world: World) -> AuditVerification:
    return Client(world.service.url, world.operator_token).verify_audit_log()


async def rows(conn: AsyncConnection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in (await conn.execute(select(audit_log).order_by(audit_log.c.seq))).all()]


def checkpoint(world: World) -> tuple[int | None, int]:
    """Ask for a checkpoint now, as the scheduler does: the seq it wrote (or ``None``), and the head's."""
    settings = world.service.settings.model_copy(update={"audit_checkpoint_entries": 1})

    async def run() -> tuple[int | None, int]:
        engine = catalog(world)
        try:
            written = await checkpoint_if_due(engine, TokenSigner.from_settings(settings), settings)
            async with engine.connect() as conn:
                return written, int((await conn.execute(select(audit_head.c.seq))).scalar_one())
        finally:
            await engine.dispose()

    return run_coroutine(run())


def checkpoint_now(world: World) -> int:
    """The head's seq, with a checkpoint at it (written now, or already there)."""
    return checkpoint(world)[1]


def test_the_untouched_chain_verifies_online_offline_and_for_org_admins(world: World) -> None:
    head = checkpoint_now(world)
    result = verify(world)
    assert result.ok, result
    assert result.entries == result.last_seq >= head and result.first_seq == 1 and result.checkpoints >= 1
    as_admin = Client(world.service.url, world.a.token).verify_audit_log(world.a.name)
    assert as_admin.ok
    offline = server_command(world.service, "audit-verify")
    assert offline.exit_code == 0 and "OK" in offline.stdout, offline.stderr


def test_a_changed_entry_is_named(world: World) -> None:
    before = verify(world)
    target = (before.last_seq or 0) // 2

    async def change(conn: AsyncConnection) -> dict[str, Any]:
        row = (await conn.execute(select(audit_log).where(audit_log.c.seq == target))).one()._mapping
        await conn.execute(
            update(audit_log).where(audit_log.c.seq == target).values(actor="mallory@example.com")
        )
        return dict(row)

    original = in_catalog(world, change)
    try:
        result = verify(world)
        assert not result.ok
        assert result.broken_seq == target
        assert result.problem == f"entry {target} was changed: its hash does not match its contents"
        cli = Cli(world.service.url, world.a.token)
        failed = cli("audit", "verify", world.a.name, code=1)
        assert f"entry {target} was changed" in failed.error
        offline = server_command(world.service, "audit-verify")
        assert offline.exit_code == 1 and f"broken at entry {target}" in offline.error
    finally:
        in_catalog(world, _put_back([original]))
    assert verify(world).ok


def test_a_deleted_entry_is_named(world: World) -> None:
    target = (verify(world).last_seq or 0) // 3

    async def remove(conn: AsyncConnection) -> dict[str, Any]:
        row = (await conn.execute(select(audit_log).where(audit_log.c.seq == target))).one()._mapping
        await conn.execute(delete(audit_log).where(audit_log.c.seq == target))
        return dict(row)

    original = in_catalog(world, remove)
    try:
        result = verify(world)
        assert (result.ok, result.broken_seq, result.problem) == (False, target, f"entry {target} is missing")
    finally:
        in_catalog(world, _insert([original]))
    assert verify(world).ok


def test_a_dropped_tail_is_caught_by_the_head(world: World) -> None:
    async def drop_last(conn: AsyncConnection) -> dict[str, Any]:
        last = (
            (await conn.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(1))).one()._mapping
        )
        await conn.execute(delete(audit_log).where(audit_log.c.seq == last["seq"]))
        return dict(last)

    original = in_catalog(world, drop_last)
    try:
        result = verify(world)
        assert not result.ok
        end = original["seq"] - 1
        assert result.problem == f"the head says {original['seq']} entries but the log ends at {end}"
    finally:
        in_catalog(world, _insert([original]))
    assert verify(world).ok


def test_a_rewritten_chain_is_caught_by_a_signed_checkpoint(world: World) -> None:
    """An attacker with write access to the catalog but not the signing key rewrites an entry and every
    hash after it, and the head: the chain holds together, but no longer matches the checkpoints."""
    head = checkpoint_now(world)
    target = max(1, head - 2)

    async def rewrite(conn: AsyncConnection) -> list[dict[str, Any]]:
        originals = [r for r in await rows(conn) if r["seq"] >= target]
        previous = originals[0]["prev_hash"]
        for row in originals:
            forged = {**row, "prev_hash": previous}
            if row["seq"] == target:
                forged["details"] = {**row["details"], "forged": True}
            forged["hash"] = previous = entry_hash(forged)
            await conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == row["seq"])
                .values(details=forged["details"], prev_hash=forged["prev_hash"], hash=forged["hash"])
            )
        await conn.execute(update(audit_head).where(audit_head.c.id == AUDIT_HEAD_ID).values(hash=previous))
        return originals

    originals = in_catalog(world, rewrite)
    try:
        result = verify(world)
        assert not result.ok
        assert result.broken_seq is not None and target <= result.broken_seq <= originals[-1]["seq"]
        assert f"signed checkpoint at {result.broken_seq}" in (result.problem or "")
        # the service appends to the forged chain, but signs no checkpoint over it
        Client(world.service.url, world.a.token).create_api_token(world.a.name, world.member_id, name="x")
        written, now = checkpoint(world)
        assert now > originals[-1]["seq"] and written is None
        last = in_catalog(world, _last_checkpoint)
        assert last == originals[-1]["seq"]
    finally:
        in_catalog(world, _put_back(originals))
        in_catalog(world, _relink(target))
    assert verify(world).ok


def test_a_forged_checkpoint_is_named(world: World) -> None:
    checkpoint_now(world)

    async def forge(conn: AsyncConnection) -> dict[str, Any]:
        last = (
            (await conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.seq.desc()).limit(1)))
            .one()
            ._mapping
        )
        other_key = TokenSigner(_new_key(), "https://elsewhere.example")
        signature = other_key.sign_document({"seq": last["seq"], "hash": last["hash"], "at": "now"})
        await conn.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.seq == last["seq"])
            .values(signature=signature)
        )
        return dict(last)

    original = in_catalog(world, forge)

    async def put_back(conn: AsyncConnection) -> None:
        await conn.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.seq == original["seq"])
            .values(signature=original["signature"])
        )

    try:
        result = verify(world)
        assert (result.ok, result.broken_seq) == (False, original["seq"])
        assert result.problem == f"checkpoint at {original['seq']} is not signed by this service"
    finally:
        in_catalog(world, put_back)
    assert verify(world).ok


def _put_back(originals: list[dict[str, Any]], head_hash: str | None = None) -> Any:
    async def work(conn: AsyncConnection) -> None:
        for row in originals:
            values = {k: v for k, v in row.items() if k != "seq"}
            await conn.execute(update(audit_log).where(audit_log.c.seq == row["seq"]).values(**values))
        if head_hash is not None:
            await conn.execute(
                update(audit_head).where(audit_head.c.id == AUDIT_HEAD_ID).values(hash=head_hash)
            )

    return work


async def _last_checkpoint(conn: AsyncConnection) -> int:
    return int((await conn.execute(select(func.max(audit_checkpoints.c.seq)))).scalar_one())


def _relink(start: int) -> Any:
    """Chain the entries from ``start`` on again (after restoring some): links, hashes and the head."""

    async def work(conn: AsyncConnection) -> None:
        later = [r for r in await rows(conn) if r["seq"] >= start]
        previous = later[0]["prev_hash"]
        for row in later:
            linked = {**row, "prev_hash": previous}
            linked["hash"] = previous = entry_hash(linked)
            await conn.execute(
                update(audit_log)
                .where(audit_log.c.seq == row["seq"])
                .values(prev_hash=linked["prev_hash"], hash=linked["hash"])
            )
        await conn.execute(update(audit_head).where(audit_head.c.id == AUDIT_HEAD_ID).values(hash=previous))

    return work


def _insert(originals: list[dict[str, Any]]) -> Any:
    async def work(conn: AsyncConnection) -> None:
        await conn.execute(insert(audit_log), originals)

    return work


def _new_key() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
