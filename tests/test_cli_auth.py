"""``arraylake auth ...`` against a live service, and the interactive flows in a real terminal (pexpect)."""

from __future__ import annotations

import json
import os
import stat
import sys
import webbrowser
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pexpect
import pytest

from arraylake.client.token_file import write_tokens
from arraylake.types import OAuthTokens
from tests.support.cli import Cli, CliUser, create_user
from tests.support.service import ArraylakeService, Org
from tests.support.users import decide, sign_in, token_file

pytestmark = [
    pytest.mark.usefixtures("home"),
    pytest.mark.parametrize("service", ["sqlite"], indirect=True),
    # pexpect forks the (threaded) test process; the child only execs, which is safe
    pytest.mark.filterwarnings("ignore:This process .* use of forkpty:DeprecationWarning"),
]

CODE = r"shows the code\s+(?:\x1b\[[0-9;]*m)*([A-Z0-9]{4}-[A-Z0-9]{4})"


@pytest.fixture(scope="module")
def org(service: ArraylakeService) -> Org:
    return service.new_org("cliauth")


@pytest.fixture(scope="module")
def ada(service: ArraylakeService, org: Org) -> CliUser:
    return create_user(service, "ada", org=org.name, role="repo_writer")


def test_login_status_token_logout(
    service: ArraylakeService, org: Org, ada: CliUser, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(service.url)
    assert "not logged in: run `arraylake auth login`" in cli("auth", "status", code=1).error

    def browser(url: str) -> bool:  # the user's browser: sign in and approve the code in the URL
        assert url.startswith(f"{service.url}/device?user_code=")
        assert decide(sign_in(service, ada.email), parse_qs(urlsplit(url).query)["user_code"][0]).is_success
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    out = cli("auth", "login", "--browser").stdout
    assert "To log in, open http" in out and "and check that it shows the code" in out
    assert out.splitlines()[-1] == f"Logged in to {service.url} as {ada.email}"
    saved = token_file(home, service)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600

    status = cli.json("auth", "status")
    assert status["principal"] == {"kind": "user", "id": ada.id, "email": ada.email, "name": "Ada Tester"}
    assert status["service"]["uri"] == service.url and status["service"]["version"]
    assert status["credentials"] == f"login saved in {saved}"
    assert datetime.fromisoformat(status["expires"]) > datetime.now(UTC)
    table = cli("auth", "status").stdout
    assert f"{ada.email} (user, Ada Tester)" in table and "renewed automatically" in table

    assert cli("auth", "token").stdout.strip() == json.loads(saved.read_text())["id_token"]
    # the login is what commands use now
    cli("repo", "create", f"{org.name}/by-ada")
    assert cli.json("repo", "history", f"{org.name}/by-ada")[0]["message"] == "Repository initialized"
    # an API token, once configured, takes precedence over the login
    assert cli.json("auth", "status", token=org.token)["principal"]["kind"] == "api_client"

    assert cli("auth", "logout").stdout.strip() == f"Logged out of {service.url}"
    assert not saved.exists()
    assert "not logged in" in cli("repo", "list", org.name, code=1).error
    assert cli("auth", "logout").stdout.strip() == "Not logged in"


def test_an_ended_login_is_one_line(service: ArraylakeService, org: Org, home: Path) -> None:
    ended = OAuthTokens(
        access_token="x", id_token="eyJhbGciOi.eyJleHAiOjF9.c2ln", refresh_token="rt_gone", expires_in=1
    )
    write_tokens(token_file(home, service), ended)
    cli = Cli(service.url)
    for args in (["repo", "list", org.name], ["auth", "status"], ["auth", "token"]):
        error = cli(*args, code=1).error
        assert error.startswith("Error: your login has ended") and error.endswith("log in again"), args


def test_api_token_status(service: ArraylakeService, org: Org) -> None:
    cli = Cli(service.url, org.token)
    status = cli.json("auth", "status")
    assert status["principal"]["kind"] == "api_client" and status["expires"] is None
    assert status["credentials"] == "API token (environment variable ARRAYLAKE_TOKEN)"
    table = cli("auth", "status").stdout
    assert "(API client)" in table and "never" in table
    assert cli("auth", "token").stdout.strip() == org.token


# ------------------------------------------------------------------------------------ in a real terminal


def terminal(*args: str, **env: str) -> pexpect.spawn:
    """``python -m arraylake ARGS...`` in a pseudo-terminal, with the test's (isolated) environment."""
    variables = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
    variables.update(TERM="xterm-256color", **env)
    return pexpect.spawn(
        sys.executable,
        ["-m", "arraylake", *args],
        env=variables,
        encoding="utf-8",
        timeout=60,
        dimensions=(40, 160),
    )


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def test_interactive_login(service: ArraylakeService, ada: CliUser, home: Path) -> None:
    child = terminal("--service-uri", service.url, "auth", "login")
    child.expect(CODE)
    user_code = child.match.group(1)
    assert "\x1b[" in child.before + child.after  # a terminal gets styles (the code is bold)
    assert decide(sign_in(service, ada.email), user_code).is_success
    child.expect("Logged in to")
    child.expect(ada.email)
    assert finish(child) == 0
    assert token_file(home, service).exists()


def test_interactive_delete_confirmation(service: ArraylakeService, org: Org) -> None:
    name = f"{org.name}/asked"
    Cli(service.url, org.token)("repo", "create", name)
    child = terminal("repo", "delete", name, "--service-uri", service.url, ARRAYLAKE_TOKEN=org.token)
    child.expect(r"Delete repo .* and all its data\? \[y/N\]")
    child.sendline("n")
    child.expect("Aborted")
    assert finish(child) == 1

    child = terminal("repo", "delete", name, "--service-uri", service.url, ARRAYLAKE_TOKEN=org.token)
    child.expect(r"\[y/N\]")
    child.sendline("y")
    child.expect(f"Deleted repo (?:\x1b\\[[0-9;]*m)*{name}")
    assert finish(child) == 0
    assert "HTTP 404" in Cli(service.url, org.token)("repo", "info", name, code=1).error


def test_colours_in_a_terminal_unless_no_color(org: Org) -> None:
    child = terminal("repo", "info", "no-org-here")
    child.expect("no-org-here")
    assert "\x1b[1;31mError:" in child.before  # bold red
    assert finish(child) == 1

    child = terminal("repo", "info", "no-org-here", NO_COLOR="1")
    child.expect("no-org-here")
    assert "Error:" in child.before and "31m" not in child.before
    assert finish(child) == 1
