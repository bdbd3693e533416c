"""``arraylake org ...`` and ``arraylake bucket ...`` against a live service."""

from __future__ import annotations

import pytest

from tests.support.access import unique
from tests.support.cli import Cli, CliUser, create_user
from tests.support.service import ArraylakeService, Org

pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.parametrize("service", ["sqlite"], indirect=True)]


@pytest.fixture(scope="module")
def founder(service: ArraylakeService) -> CliUser:
    return create_user(service, "founder")


@pytest.fixture(scope="module")
def admin(service: ArraylakeService) -> Org:
    """An org made by ``server init`` code, with its admin API token."""
    return service.new_org("clibkt")


# ---------------------------------------------------------------------------------------------------- orgs


def test_user_creates_an_org_and_manages_its_members(service: ArraylakeService, founder: CliUser) -> None:
    cli = Cli(service.url, founder.token)
    name = unique("lab")
    created = cli.json("org", "create", name, "--display-name", "The Lab", "--description", "for tests")
    assert created["name"] == name and created["display_name"] == "The Lab"
    assert name in [o["name"] for o in cli.json("org", "list")]
    assert name in cli("org", "list").stdout
    assert cli.json("org", "members", name) == [
        {
            "principal_id": founder.id,
            "kind": "user",
            "email": founder.email,
            "name": "Founder Tester",
            "role": "admin",
        }
    ]

    bob = create_user(service, "bob")
    added = cli.json("org", "add-member", name, bob.email, "--role", "repo_reader")
    assert added["email"] == bob.email and added["role"] == "repo_reader"
    out = cli("org", "set-role", name, bob.email, "REPO_WRITER").stdout
    assert out.strip() == f"{bob.email} is now repo_writer in {name}."
    table = cli("org", "members", name).stdout
    assert bob.email in table and "repo_writer" in table
    # bob sees the org now
    assert name in [o["name"] for o in Cli(service.url, bob.token).json("org", "list")]

    assert cli("org", "remove-member", name, bob.email).stdout.strip() == f"Removed {bob.email} from {name}."
    assert [m["email"] for m in cli.json("org", "members", name)] == [founder.email]
    last_admin = cli("org", "remove-member", name, founder.email, code=1)
    assert last_admin.error.startswith("Error: ") and "admin" in last_admin.error

    taken = cli("org", "create", name, code=1)
    assert "HTTP 409" in taken.error
    bad = cli("org", "create", "Not A Name!", code=1)
    assert bad.error.startswith("Error: invalid org name 'Not A Name!'")


def test_api_clients_cannot_create_orgs(service: ArraylakeService, admin: Org) -> None:
    refused = Cli(service.url, admin.token)("org", "create", unique("by-bot"), code=1)
    assert "HTTP 403" in refused.error


def test_api_client_lifecycle(service: ArraylakeService, admin: Org) -> None:
    cli = Cli(service.url, admin.token)
    made = cli.json("org", "api-client", "create", admin.name, "ingest", "--role", "repo_writer")
    token, client_id = made["token"]["token"], made["client"]["id"]
    assert token.startswith("ema_") and made["client"]["role"] == "repo_writer"
    bot = Cli(service.url, token)
    assert bot.json("auth", "status")["principal"] == {
        "kind": "api_client",
        "id": client_id,
        "email": made["client"]["email"],
    }
    bot("repo", "create", f"{admin.name}/by-bot")

    plain = cli("org", "api-client", "create", admin.name, "reader", "--expires-in-days", "2")
    assert plain.stdout.splitlines()[-1].startswith("ema_")  # the token, alone on the last line
    assert "expires" in plain.stdout
    expiring = Cli(service.url, plain.stdout.splitlines()[-1]).json("auth", "status")
    assert expiring["expires"] is not None

    listed = {c["id"]: c for c in cli.json("org", "api-client", "list", admin.name)}
    assert listed[client_id]["name"] == "ingest" and listed[client_id]["disabled_at"] is None
    assert token not in cli("org", "api-client", "list", admin.name).stdout
    assert token[:8] in cli("org", "api-client", "list", admin.name).stdout  # the hint

    kept = cli("org", "api-client", "revoke", admin.name, client_id, input="n\n", code=1)
    assert "Aborted" in kept.stderr
    bot("repo", "list", admin.name)
    cli("org", "api-client", "revoke", admin.name, client_id, "--yes")
    assert "HTTP 401" in bot("repo", "list", admin.name, code=1).error
    assert cli.json("org", "api-client", "list", admin.name)
    assert {c["id"]: c for c in cli.json("org", "api-client", "list", admin.name)}[client_id]["disabled_at"]


# ------------------------------------------------------------------------------------------------- buckets


def test_bucket_lifecycle(service: ArraylakeService, admin: Org) -> None:
    cli = Cli(service.url, admin.token)
    org = admin.name
    [local] = [b for b in cli.json("bucket", "list", org) if b["nickname"] == "local"]
    assert local["platform"] == "local" and local["is_default"]

    archive = cli.json("bucket", "create", org, "archive", "file://archive/cold")
    assert archive["platform"] == "local" and archive["prefix"] == "cold" and not archive["is_default"]
    s3 = cli.json(
        "bucket",
        "create",
        org,
        "s3-data",
        "s3://some-bucket/arrays",
        "--extra",
        "region_name=eu-west-1",
        "--auth",
        "method=hmac",
        "--auth",
        "access_key_id=AKIDEXAMPLE",
        "--auth",
        "secret_access_key",  # asked for, without echo
        "--no-check",  # a made-up AWS bucket: nothing to connect to
        input="very-secret-key\n",
    )
    assert s3["platform"] == "s3" and s3["extra_config"] == {"region_name": "eu-west-1"}
    assert s3["auth_config"]["method"] == "hmac" and s3["auth_config"]["secret_access_key"] == "********"

    table = cli("bucket", "list", org).stdout
    assert "file://archive/cold" in table and "s3://some-bucket/arrays" in table and "hmac" in table
    assert "very-secret-key" not in table

    assert cli("bucket", "set-default", org, "archive").stdout.strip() == (
        f"archive is now the default bucket config of {org}."
    )
    defaults = [b["nickname"] for b in cli.json("bucket", "list", org) if b["is_default"]]
    assert defaults == ["archive"]

    cli("repo", "create", f"{org}/cold-repo")  # lands in the new default
    info = cli.json("bucket", "info", org, "archive")
    assert info["repos"] == [f"{org}/cold-repo"] and info["is_default"]
    text = cli("bucket", "info", org, "archive").stdout
    assert "cold-repo" in text and "file://archive/cold" in text

    in_use = cli("bucket", "delete", org, "archive", "--yes", code=1)
    assert "HTTP 409" in in_use.error and "cold-repo" in in_use.error
    cli("repo", "delete", f"{org}/cold-repo", "--yes")
    cli("bucket", "set-default", org, "local")
    kept = cli("bucket", "delete", org, "archive", input="n\n", code=1)
    assert "Aborted" in kept.stderr
    assert (
        cli("bucket", "delete", org, "archive", input="y\n")
        .stdout.strip()
        .endswith("Deleted bucket config archive.")
    )
    assert "archive" not in [b["nickname"] for b in cli.json("bucket", "list", org)]

    missing = cli("bucket", "info", org, "archive", code=1)
    assert missing.error == f"Error: no bucket config named 'archive' in org {org}"
    bad = cli("bucket", "create", org, "no-region", "s3://some-bucket", code=1)
    assert "region_name" in bad.error
    bad = cli("bucket", "create", org, "weird", "ftp://x", code=1)
    assert "unsupported bucket URI scheme 'ftp'" in bad.error
