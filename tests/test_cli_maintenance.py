"""``arraylake repo maintenance show|set|run|history`` and ``arraylake org maintenance|set-maintenance``
against a live service."""

from __future__ import annotations

import uuid

import pytest

from arraylake import Client
from arraylake.types import OrgRole
from tests.support.cli import Cli
from tests.support.service import ArraylakeService, Org

pytestmark = [pytest.mark.usefixtures("home"), pytest.mark.parametrize("service", ["sqlite"], indirect=True)]

DAY = 86400.0
ROOT = "ABCDEFGHIJ0123456789"


@pytest.fixture(scope="module")
def org(service: ArraylakeService) -> Org:
    return service.new_org("climaint")


@pytest.fixture
def cli(service: ArraylakeService, org: Org) -> Cli:
    return Cli(service.url, org.token)


@pytest.fixture
def repo(service: ArraylakeService, org: Org) -> str:
    name = f"{org.name}/m-{uuid.uuid4().hex[:6]}"
    Client(service.url, token=org.token).create_repo(name, checkout=False)
    return name


def test_show_a_repo_without_a_policy(cli: Cli, repo: str) -> None:
    shown = cli("repo", "maintenance", "show", repo).stdout
    assert f"Maintenance of {repo}" in shown
    assert "sun 02:00 6h  [service]" in shown and "off  [service]" in shown
    assert "none (expiration and GC are off)" in shown and "none yet" in shown and "unknown" in shown
    found = cli.json("repo", "maintenance", "show", repo)
    assert found["effective"]["window_source"] == "service" and found["last_run"] is None


def test_set_change_inherit_and_reset(cli: Cli, repo: str) -> None:
    args = ["repo", "maintenance", "set", repo]
    made = cli.json(
        *args,
        "--window",
        "sat 01:00 2h",
        "--expire-older-than",
        "30d",
        "--gc",
        "--gc-margin",
        "1d12h",
        "--keep",
        ROOT,
    )
    config = made["config"]
    assert config["window"] == {"duration": 7200, "start_time": "01:00:00", "day_of_week": 5}
    assert config["expiration_config"]["expire_versions_older_than"] == 30 * DAY
    assert config["expiration_config"]["enabled"] is True
    assert config["gc_config"]["enabled"] is True and config["gc_config"]["extra_gc_roots"] == [ROOT]
    assert config["gc_config"]["dangling_chunks"] == 1.5 * DAY and made["effective"]["gc_margin"] == 1.5 * DAY

    shown = cli("repo", "maintenance", "show", repo).stdout
    assert "sat 01:00 2h  [repo]" in shown and "on: snapshots older than 30d  [repo]" in shown
    assert "unreachable objects older than 1d12h" in shown and ROOT in shown

    # Options not given keep their value.
    off = cli.json(*args, "--no-expiration")["config"]
    assert off["expiration_config"] == {
        "expire_versions_older_than": 30 * DAY,
        "expire_every": None,
        "enabled": False,
    }
    assert off["window"]["day_of_week"] == 5 and off["gc_config"]["enabled"] is True
    cleared = cli.json(*args, "--keep", "")["config"]["gc_config"]
    assert cleared["extra_gc_roots"] == [] and cleared["enabled"] is True

    inherited = cli.json(*args, "--inherit", "window", "--inherit", "gc")
    assert inherited["config"]["window"] is None and inherited["config"]["gc_config"] is None
    assert inherited["effective"]["window_source"] == "service"
    assert cli.json(*args, "--reset")["config"] == {
        "window": None,
        "gc_config": None,
        "expiration_config": None,
    }
    text = cli(*args, "--window", "wed 22:30 90m").stdout
    assert "wed 22:30 1h30m  [repo]" in text and "none (expiration and GC are off)" in text


def test_bad_options_say_why_and_change_nothing(cli: Cli, repo: str) -> None:
    args = ["repo", "maintenance", "set", repo]
    assert "not a duration" in cli(*args, "--expire-older-than", "3x", code=2).stderr
    assert "nothing to change" in cli(*args, code=2).stderr
    assert "give window, expiration or gc" in cli(*args, "--inherit", "colour", code=2).stderr
    assert "not a window" in cli(*args, "--window", "someday", code=1).error
    assert "minimum" in cli(*args, "--gc", "--gc-margin", "60s", code=1).error
    assert "needs an age" in cli(*args, "--expiration", code=1).error
    assert cli.json("repo", "maintenance", "show", repo)["config"] == {
        "window": None,
        "gc_config": None,
        "expiration_config": None,
    }


def test_readers_and_writers_may_not_change_the_policy(
    service: ArraylakeService, org: Org, cli: Cli, repo: str
) -> None:
    admin = Client(service.url, token=org.token)
    writer = admin.create_api_client(org.name, "cli writer", role=OrgRole.REPO_WRITER)
    token = writer.token.token.get_secret_value()
    refused = cli("repo", "maintenance", "set", repo, "--expire-older-than", "1d", code=1, token=token).error
    assert "manage" in refused
    assert "manage" in cli("repo", "maintenance", "run", repo, "--no-wait", code=1, token=token).error
    assert cli.json("repo", "maintenance", "show", repo, token=token)["config"]["expiration_config"] is None


def test_org_defaults(cli: Cli, org: Org, repo: str) -> None:
    shown = cli("org", "maintenance", org.name).stdout
    assert "(service default)" in shown
    made = cli.json(
        "org", "set-maintenance", org.name, "--window", "mon 03:00 2h", "--gc", "--gc-margin", "2d"
    )
    assert made["window"]["day_of_week"] == 0 and made["gc_config"]["dangling_snapshots"] == 2 * DAY
    assert cli.json("org", "maintenance", org.name) == made
    shown = cli("org", "maintenance", org.name).stdout
    assert "mon 03:00 2h" in shown and "unreachable objects older than 2d" in shown
    effective = cli.json("repo", "maintenance", "show", repo)["effective"]
    assert (effective["window_source"], effective["gc_source"]) == ("org", "org")
    assert effective["next_window_start"] is not None
    text = cli("repo", "maintenance", "show", repo).stdout
    assert "mon 03:00 2h  [org]" in text
    reset = cli.json("org", "set-maintenance", org.name, "--reset")
    assert reset == {"window": None, "gc_config": None, "expiration_config": None}


def test_run_and_history(cli: Cli, repo: str) -> None:
    cli("repo", "maintenance", "set", repo, "--expire-older-than", "30d", "--gc")
    dry = cli("repo", "maintenance", "run", repo, "--dry-run", "--timeout", "120").stdout
    assert "dry run succeeded" in dry and "would expire 0 snapshot(s)" in dry
    assert "nothing was deleted" in dry and "main" in dry

    queued = cli.json("repo", "maintenance", "run", repo, "--dry-run", "--no-wait")
    assert queued["dry_run"] is True and queued["state"] in ("queued", "running", "succeeded")
    runs = cli.json("repo", "maintenance", "history", repo)
    assert [r["id"] for r in runs][:1] == [queued["id"]] and len(runs) == 2
    assert runs[1]["state"] == "succeeded" and runs[1]["report"]["dry_run"] is True
    assert len(cli.json("repo", "maintenance", "history", repo, "--limit", "1")) == 1
    table = cli("repo", "maintenance", "history", repo).stdout
    assert f"Maintenance runs of {repo}" in table and "requested" in table and queued["id"] in table
