"""Audit entries of repos, bucket configs, virtual-chunk policies, compute services and credential vends.

Each test acts through the public API of a running service, then reads the audit table itself and checks the
entries (action, outcome, actor, org, repo, target, details), and that no secret reached them.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from arraylake import Client
from arraylake.server.audit.chain import entry_hash
from arraylake.server.db.schema import audit_log
from arraylake.types import OrgRole
from tests.support.seaweed import SeaweedFS
from tests.support.service import ArraylakeService, Org, run_coroutine

ADMIN_EMAIL = "admin@example.com"  # the admin of every org that ArraylakeService.new_org makes
SERVICE_ACTOR = "arraylake-service"


def audit_rows(service: ArraylakeService, org: str | None = None) -> list[dict[str, Any]]:
    """Entries of the audit table, oldest first (of one org, or all)."""

    async def read() -> list[dict[str, Any]]:
        engine = create_async_engine(service.settings.resolved_database_url)
        try:
            query = select(audit_log).order_by(audit_log.c.seq)
            if org is not None:
                query = query.where(audit_log.c.org == org)
            async with engine.connect() as conn:
                return [dict(row._mapping) for row in (await conn.execute(query)).all()]
        finally:
            await engine.dispose()

    return run_coroutine(read())


def entries(service: ArraylakeService, org: str, action: str, **match: Any) -> list[dict[str, Any]]:
    return [
        row
        for row in audit_rows(service, org)
        if row["action"] == action and all(row[k] == v for k, v in match.items())
    ]


def only_entry(service: ArraylakeService, org: str, action: str, **match: Any) -> dict[str, Any]:
    found = entries(service, org, action, **match)
    assert len(found) == 1, f"{action}: {found}"
    return found[0]


def as_text(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=str)


def api(org: Org, token: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=org.url, headers={"authorization": f"Bearer {token or org.token}"}, timeout=60
    )


def admin_id(client: Client) -> str:
    return str(client.get_user().id)


def test_repo_lifecycle_is_recorded(service: ArraylakeService, org: Org) -> None:
    client = Client(org.url, token=org.token)
    me = admin_id(client)
    bucket = next(b for b in client.list_bucket_configs(org.name) if b.is_default)
    client.create_repo(f"{org.name}/alpha", prefix="kept-alpha")
    created = only_entry(service, org.name, "repo.create", repo="alpha")
    assert created["outcome"] == "ok" and created["actor_id"] == me and created["actor"] == ADMIN_EMAIL
    assert created["org_id"] and created["target"]
    assert created["details"] == {
        "kind": "icechunk",
        "create_mode": "create",
        "bucket": bucket.nickname,
        "prefix": "kept-alpha" if not bucket.prefix else f"{bucket.prefix}/kept-alpha",
    }

    with api(org) as http:
        answer = http.put(
            f"/orgs/{org.name}/alpha/status", content=json.dumps({"mode": "maintenance", "message": "moving"})
        )
        assert answer.status_code == 200, answer.text
        refused = http.put(f"/orgs/{org.name}/alpha/status", content=json.dumps({"mode": "sideways"}))
        assert refused.status_code == 422
    status = only_entry(service, org.name, "repo.status", repo="alpha")
    assert status["actor_id"] == me and status["target"] == created["target"]
    assert status["details"] == {
        "mode": "maintenance",
        "message": "moving",
        "previous_mode": "online",
        "previous_message": None,
    }

    client.delete_repo(f"{org.name}/alpha", imsure=True, imreallysure=True, immediate=False)
    soft = only_entry(service, org.name, "repo.delete", repo="alpha")
    assert soft["actor_id"] == me and soft["target"] == created["target"]
    assert soft["details"]["immediate"] is False and soft["details"]["restorable_until"]
    client.restore_repo(f"{org.name}/alpha")
    restored = only_entry(service, org.name, "repo.restore", repo="alpha")
    assert restored["actor_id"] == me and restored["target"] == created["target"]

    # Dropped from the catalog, its data kept: then imported again from the same prefix.
    client.delete_repo(f"{org.name}/alpha", imsure=True, imreallysure=True, retain_data=True)
    kept = entries(service, org.name, "repo.delete", repo="alpha")[-1]
    assert kept["details"] == {"immediate": True, "retain_data": True, "was": "active", "data": "kept"}
    client.import_repo(f"{org.name}/beta", bucket_config_nickname=bucket.nickname, prefix="kept-alpha")
    imported = only_entry(service, org.name, "repo.import", repo="beta")
    assert imported["actor_id"] == me
    assert imported["details"]["create_mode"] == "import" and imported["details"]["bucket"] == bucket.nickname

    client.delete_repo(f"{org.name}/beta", imsure=True, imreallysure=True)
    gone = only_entry(service, org.name, "repo.delete", repo="beta")
    assert gone["details"]["data"] == "removing"
    deadline = time.monotonic() + 60
    while not (purged := entries(service, org.name, "repo.purge", repo="beta")):
        assert time.monotonic() < deadline, "no repo.purge entry"
        time.sleep(0.5)
    assert len(purged) == 1
    assert purged[0]["actor"] == SERVICE_ACTOR and purged[0]["actor_id"] == SERVICE_ACTOR
    assert purged[0]["target"] == imported["target"] and purged[0]["details"]["data"] == "removed"
    assert purged[0]["details"]["objects_deleted"] > 0
    # refused requests change nothing and record nothing
    assert [r["action"] for r in audit_rows(service, org.name)].count("repo.status") == 1


def test_bucket_configs_and_virtual_chunk_policies_are_recorded(service: ArraylakeService, org: Org) -> None:
    client = Client(org.url, token=org.token)
    me = admin_id(client)
    secret = "very-secret-hmac-key-0001"
    new_secret = "very-secret-hmac-key-0002"
    config = {
        "uri": "s3://archive/data",
        "extra_config": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
        "auth_config": {"method": "hmac", "access_key_id": "AKIAAUDITTEST", "secret_access_key": secret},
    }
    made = client.create_bucket_config(org=org.name, nickname="archive", **config)
    created = only_entry(service, org.name, "bucket.create", target="archive")
    assert created["actor_id"] == me and created["actor"] == ADMIN_EMAIL
    assert created["request_id"] and created["client_address"]
    assert created["details"] == {
        "bucket_id": str(made.id),
        "platform": "s3-compatible",
        "name": "archive",
        "prefix": "data",
        "auth_method": "hmac",
    }

    client.modify_bucket_config(
        org=org.name,
        nickname="archive",
        new_nickname="archive2",
        auth_config={**config["auth_config"], "secret_access_key": new_secret},  # type: ignore[dict-item]
    )
    changed = only_entry(service, org.name, "bucket.update")
    assert changed["actor_id"] == me and changed["target"] == "archive2"
    assert changed["details"]["fields"] == ["auth_config", "nickname"]
    assert changed["details"]["previous_nickname"] == "archive"

    client.set_default_bucket_config(org=org.name, nickname="archive2")
    default = only_entry(service, org.name, "bucket.set_default", target="archive2")
    assert default["actor_id"] == me and default["target"] == "archive2"
    assert default["details"]["bucket_id"] == str(made.id) and default["details"]["previous_bucket_id"]

    policies = f"/orgs/{org.name}/settings/virtual-chunk-access-policies"
    body = json.dumps({"bucket_id": str(made.id), "subprefix": "public", "public": True})
    with api(org) as http:
        assert http.put(policies, content=body).status_code == 200
        assert http.request("DELETE", policies, content=body).status_code == 204
        assert http.request("DELETE", policies, content=body).status_code == 404  # nothing to withdraw
    allowed = only_entry(service, org.name, "virtual_chunk_policy.create")
    assert allowed["actor_id"] == me and allowed["target"] == "archive2/public"
    assert allowed["details"]["public"] is True and allowed["details"]["subprefix"] == "public"
    assert allowed["details"]["url_prefix"].startswith("s3://archive/data/public")
    withdrawn = only_entry(service, org.name, "virtual_chunk_policy.delete")
    assert withdrawn["actor_id"] == me and withdrawn["target"] == "archive2/public"

    client.delete_bucket_config(org=org.name, nickname="archive2", imsure=True, imreallysure=True)
    deleted = only_entry(service, org.name, "bucket.delete")
    assert deleted["actor_id"] == me and deleted["target"] == "archive2"
    assert deleted["details"]["bucket_id"] == str(made.id)

    text = as_text(audit_rows(service))
    assert secret not in text and new_secret not in text


def test_compute_services_are_recorded(service: ArraylakeService, org: Org) -> None:
    me = admin_id(Client(org.url, token=org.token))
    base = f"/compute/orgs/{org.name}/services"
    config = {"service_type": "dap2", "org": org.name, "deployment_name": "audited", "min_replicas": 0}
    with api(org) as http:
        assert http.post(base, content=json.dumps(config)).status_code == 201
        patched = http.patch(f"{base}/audited", content=json.dumps({"max_replicas": 2}))
        assert patched.status_code == 200, patched.text
        assert http.delete(f"{base}/audited").status_code == 200
    enabled = only_entry(service, org.name, "compute.enable")
    assert enabled["actor_id"] == me and enabled["actor"] == ADMIN_EMAIL and enabled["target"] == "audited"
    assert enabled["details"]["service_type"] == "dap2" and enabled["details"]["is_public"] is False
    assert enabled["details"]["min_replicas"] == 0
    updated = only_entry(service, org.name, "compute.update")
    assert updated["target"] == "audited" and updated["details"]["fields"] == ["max_replicas"]
    assert updated["details"]["max_replicas"] == 2 and updated["details"]["previous"]["max_replicas"] == 24
    disabled = only_entry(service, org.name, "compute.disable")
    assert disabled["actor_id"] == me and disabled["details"]["service_type"] == "dap2"


def open_info(org: Org, repo: str, token: str, access: str) -> dict[str, Any]:
    with api(org, token) as http:
        answer = http.get(f"/repos/{org.name}/{repo}/open", params={"access": access})
    assert answer.status_code == 200, answer.text
    return answer.json()


def vends(service: ArraylakeService, org: Org, **match: Any) -> list[dict[str, Any]]:
    access = match.pop("access", None)
    return [
        row
        for row in entries(service, org.name, "credentials.vend", **match)
        if access is None or row["details"]["access"] == access
    ]


def test_sts_vends_are_recorded_once_per_session(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = service.new_org("vend", local_bucket=False)
    client = Client(org.url, token=org.token)
    me = admin_id(client)
    client.create_bucket_config(org=org.name, nickname="vended", **seaweed.sts_bucket_config(s3_bucket))
    client.set_default_bucket_config(org=org.name, nickname="vended")
    client.create_repo(f"{org.name}/alpha")
    prefix = client.get_repo_object(f"{org.name}/alpha").prefix

    # The service checked the new prefix with credentials of its own (before the repo was recorded).
    own = vends(service, org, actor_id=SERVICE_ACTOR, target=f"vended/{prefix}")
    assert len(own) == 1 and own[0]["actor"] == SERVICE_ACTOR and own[0]["details"]["access"] == "write"

    first = open_info(org, "alpha", org.token, "write")["repo_credentials"]
    again = open_info(org, "alpha", org.token, "write")["repo_credentials"]
    assert again["aws_session_token"] == first["aws_session_token"]  # the vendor's cache answered
    mine = vends(service, org, actor_id=me, access="write")
    assert len(mine) == 1, mine  # the creator's write session, handed out again from the cache
    entry = mine[0]
    assert entry["outcome"] == "ok" and entry["actor"] == ADMIN_EMAIL and entry["repo"] == "alpha"
    assert entry["target"] == f"vended/{prefix}"
    assert entry["details"]["method"] == "sts_assume_role" and entry["details"]["bucket"] == "vended"
    assert 0 < entry["details"]["lifetime_seconds"] <= 12 * 3600

    reader_token = client.create_api_client(org.name, "reader", role=OrgRole.REPO_READER).token.token
    token = reader_token.get_secret_value()
    read = open_info(org, "alpha", token, "read")["repo_credentials"]
    open_info(org, "alpha", token, "read")
    reader_vends = [v for v in vends(service, org, repo="alpha", access="read") if v["actor_id"] != me]
    assert len(reader_vends) == 1, reader_vends
    assert reader_vends[0]["actor_id"] not in (None, SERVICE_ACTOR)

    text = as_text(audit_rows(service))
    for credentials in (first, read):
        for field in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            assert credentials[field] and credentials[field] not in text, field
    assert token not in text


def test_static_keys_are_recorded_once_and_local_buckets_not_at_all(
    service: ArraylakeService, seaweed: SeaweedFS, s3_bucket: str
) -> None:
    org = service.new_org("hmac")
    client = Client(org.url, token=org.token)
    me = admin_id(client)
    client.create_repo(f"{org.name}/local")
    open_info(org, "local", org.token, "write")
    assert vends(service, org) == []  # a local bucket vends nothing

    config = seaweed.bucket_config(s3_bucket)
    client.create_bucket_config(org=org.name, nickname="keys", **config)
    client.create_repo(f"{org.name}/keyed", bucket_config_nickname="keys")
    assert vends(service, org, actor_id=SERVICE_ACTOR) == []  # static keys used by the service itself
    handed = [open_info(org, "keyed", org.token, "read")["repo_credentials"] for _ in range(3)]
    read = vends(service, org, actor_id=me, access="read")
    assert len(read) == 1, read
    assert read[0]["repo"] == "keyed" and read[0]["details"]["method"] == "hmac"
    assert read[0]["details"]["lifetime_seconds"] is None and read[0]["details"]["bucket"] == "keys"
    text = as_text(audit_rows(service))
    assert handed[0]["aws_secret_access_key"] == config["auth_config"]["secret_access_key"]
    assert config["auth_config"]["secret_access_key"] not in text


def test_the_chain_stays_whole(service: ArraylakeService) -> None:
    """Every entry written above carries its own hash and links to the one before it."""
    rows = audit_rows(service)
    assert rows
    for before, after in itertools.pairwise(rows):
        assert after["prev_hash"] == before["hash"] and after["seq"] == before["seq"] + 1
    for row in rows:
        assert entry_hash(row) == row["hash"], row["seq"]
