"""The ``arraylake`` command as a whole: help, version, diagnostics, and how bad input ends a run."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from arraylake import __version__
from arraylake.server.db.engine import make_engine
from arraylake.server.db.migrate import head_revision, upgrade
from tests.support.cli import Cli, run
from tests.support.service import ArraylakeService

GROUPS = {
    "auth": ["login", "logout", "status", "token"],
    "org": ["list", "create", "members", "add-member", "remove-member", "set-role", "api-client"],
    "org api-client": ["create", "list", "revoke"],
    "repo": ["list", "create", "delete", "info", "tree", "history", "branches", "tags", "grant", "revoke"],
    "bucket": ["list", "create", "info", "delete", "set-default"],
    "config": ["get", "set", "unset", "list", "init", "path"],
    "server": ["init", "start", "migrate", "user"],
    "server user": ["create"],
}
ANSI = re.compile(r"\x1b\[")

pytestmark = pytest.mark.usefixtures("home")


def test_root_help_names_every_group_and_the_global_options() -> None:
    for flag in ("--help", "-h"):
        result = run(flag)
        assert result.exit_code == 0
        out = result.stdout
        assert "arraylake auth login" in out and "ARRAYLAKE_TOKEN" in out
        for group in ("auth", "org", "repo", "bucket", "config", "server"):
            assert re.search(rf"^\W*{group}\s+\w", out, re.MULTILINE), (group, out)
        for option in ("--version", "--diagnostics", "--json", "--service-uri", "--config", "--debug"):
            assert option in out
        assert not ANSI.search(out), "no colours when the output is not a terminal"


def test_bare_command_prints_help() -> None:
    result = run()
    assert result.exit_code == 2 and "Usage: arraylake" in result.stdout


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_each_group_documents_its_commands(group: str) -> None:
    result = run(*group.split(), "-h")
    assert result.exit_code == 0, result.stderr
    for command in GROUPS[group]:
        assert re.search(rf"^\W*{command}\s+\S", result.stdout, re.MULTILINE), (command, result.stdout)
    bare = run(*group.split())  # a group without a command shows its help
    assert "Usage: arraylake" in bare.stdout and "Commands" in bare.stdout


def test_commands_take_the_global_options() -> None:
    for command in (["repo", "list"], ["bucket", "create"], ["auth", "status"], ["config", "get"]):
        out = run(*command, "-h").stdout
        assert "--service-uri" in out and "--config" in out and "--debug" in out, command
    assert "--json" in run("repo", "tree", "-h").stdout
    assert "--yes" in run("repo", "delete", "-h").stdout
    server_start = run("server", "start", "-h").stdout
    assert "--data-dir" in server_start and "--service-uri" not in server_start


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"arraylake, version {__version__}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bogus"], "No such command 'bogus'"),
        (["repo", "lisst"], "Did you mean 'list'"),
        (["repo", "list", "--bogus"], "No such option: --bogus"),
        (["repo", "info"], "Missing argument 'ORG/REPO'"),
        (["repo", "info", "o/r", "--config", "no-equals-sign"], "expected KEY=VALUE"),
        (["org", "set-role", "o", "someone", "emperor"], "'emperor' is not one of"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], says: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.error.startswith("Error: ") and says in result.error, result.stderr
    assert "-h'" in result.error  # where to read more
    assert result.stdout == ""


def test_missing_service_is_one_line() -> None:
    cli = Cli("http://127.0.0.1:9", token="ema_" + "x" * 43)
    result = cli("repo", "list", "some-org", "--config", "http.retries=0", code=1)
    assert result.error.startswith("Error: could not reach the Arraylake service at http://127.0.0.1:9")


def test_debug_shows_the_traceback() -> None:
    quiet = run("repo", "info", "no-org-here")
    assert quiet.exit_code == 1 and quiet.exception is None
    assert quiet.error == "Error: repo names have the form ORG/REPO, got 'no-org-here'"
    loud = run("repo", "info", "no-org-here", "--debug")
    assert loud.exit_code == 1 and type(loud.exception).__name__ == "InvalidNameError"


def test_bad_config_values_are_one_line() -> None:
    cli = Cli("http://127.0.0.1:9")
    result = cli("repo", "list", "o", code=1, ARRAYLAKE_HTTP__TIMEOUT="soon")
    assert result.error.startswith("Error: bad config value for http.timeout: 'soon'")
    result = cli("repo", "list", "o", token="not-a-token", code=1)
    assert result.error == "Error: bad config value for token: (hidden): API tokens start with 'ema_'"
    assert "not-a-token" not in result.stderr
    result = cli("repo", "list", "o", "--config", "service.ssl.verify=maybe", code=1)
    assert "service.ssl.verify" in result.error and "boolean" in result.error
    result = run("--service-uri", "ftp://example.com", "repo", "list", "o")
    assert result.exit_code == 1 and "service.uri: 'ftp://example.com'" in result.error


def test_malformed_config_file_is_one_line_and_fixable() -> None:
    path = Path(run("config", "path").stdout.strip())
    path.parent.mkdir(parents=True)
    path.write_text("service: [unclosed\n")
    result = run("repo", "list", "o")
    assert result.exit_code == 1 and "is malformed" in result.error
    # the file can still be found, and replaced
    assert run("config", "path").stdout.strip() == str(path)
    assert run("config", "init", "--force").exit_code == 0
    assert run("config", "get", "service.uri").stdout.strip() == "http://127.0.0.1:8321"


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_diagnostics(service: ArraylakeService) -> None:
    token = "ema_" + "s" * 43
    report = Cli(service.url, token).json("--diagnostics")
    assert set(report) == {"system", "versions", "service", "config"}
    assert report["versions"]["arraylake"] == __version__
    assert report["versions"]["icechunk"] not in ("", "none") and "zarr" in report["versions"]
    assert report["service"]["uri"] == service.url and report["service"]["version"] == __version__
    assert report["config"]["service"]["uri"] == service.url
    assert report["config"]["token"] == "ema_********"
    assert report["system"]["python"].startswith("3.")

    text = Cli(service.url, token)("--diagnostics").stdout
    for section in ("System", "Versions", "Service", "Config in effect"):
        assert section in text
    assert token not in text and "ema_********" in text

    down = Cli("http://127.0.0.1:9").json("--diagnostics")
    assert down["service"]["uri"] == "http://127.0.0.1:9" and "ConnectError" in down["service"]["error"]


def test_al_is_the_same_command() -> None:
    al = Path(sys.executable).with_name("al")
    result = subprocess.run([str(al), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"arraylake, version {__version__}"


def test_server_init_migrate_through_the_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("ARRAYLAKE_SERVER_DATA_DIR", str(data))  # the server commands set it; undo that
    init = run("server", "init", "--data-dir", str(data), "--org", "first")
    assert init.exit_code == 0, init.stderr
    assert init.stdout.splitlines()[-1].startswith("ema_") and (data / "catalog.db").exists()
    migrated = run("server", "migrate", "--data-dir", str(data))
    assert migrated.exit_code == 0 and migrated.stdout.strip() == "The catalog schema was already up to date."
    again = run("server", "init", "--data-dir", str(data), "--org", "first")
    assert again.exit_code == 1 and "org first already exists" in again.error
    help_text = run("server", "-h").stdout
    assert "arraylake server init --data-dir DIR --org ORG" in help_text and "ARRAYLAKE_SERVER_" in help_text


def test_server_migrate_reports_what_it_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("ARRAYLAKE_SERVER_DATA_DIR", str(data))
    engine = make_engine(f"sqlite+aiosqlite:///{data / 'catalog.db'}")
    asyncio.run(upgrade(engine, "0001"))
    asyncio.run(engine.dispose())
    migrated = run("server", "migrate", "--data-dir", str(data))
    assert migrated.exit_code == 0, migrated.stderr
    head = head_revision()
    applied = int(head or "0") - 1
    assert migrated.stdout.strip() == f"Applied {applied} migration(s); the catalog schema is at {head}."
