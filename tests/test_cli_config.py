"""``arraylake config ...`` and the layers of the configuration: defaults < file < environment < argument."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from arraylake import Client
from arraylake.config import refresh
from tests.support.cli import Cli, run
from tests.support.service import ArraylakeService, Org

DEFAULT_URI = "http://127.0.0.1:8321"

pytestmark = pytest.mark.usefixtures("home")


def value(*args: str, env: dict[str, str | None] | None = None) -> object:
    result = run("config", "get", *args, "--json", env=env)
    assert result.exit_code == 0, result.stderr
    return result.json()


def source_of(key: str, *args: str, env: dict[str, str | None] | None = None) -> str:
    out = run(*args, "config", "list", env=env).stdout
    line = next(line for line in out.splitlines() if f" {key} " in line)
    return line.split("│")[-2].strip()


def test_path_follows_arraylake_config_or_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("config", "path").stdout.strip() == str(home / "config" / "config.yaml")
    monkeypatch.delenv("ARRAYLAKE_CONFIG")
    assert run("config", "path").stdout.strip() == str(home / ".config" / "arraylake" / "config.yaml")


def test_set_get_unset(home: Path) -> None:
    path = home / "config" / "config.yaml"
    assert value("service.uri") == DEFAULT_URI
    assert run("config", "set", "service.uri", "http://example.com:9000").exit_code == 0
    assert run("config", "set", "http.timeout", "12").exit_code == 0
    assert yaml.safe_load(path.read_text()) == {
        "service": {"uri": "http://example.com:9000"},
        "http": {"timeout": 12},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert value("service.uri") == "http://example.com:9000"
    assert value("http.timeout") == 12
    assert value("http")["timeout"] == 12 and value("http")["retries"] == 5
    assert run("config", "get", "service.uri").stdout == "http://example.com:9000\n"

    assert run("config", "unset", "service.uri").exit_code == 0
    assert value("service.uri") == DEFAULT_URI
    assert yaml.safe_load(path.read_text()) == {"http": {"timeout": 12}}
    again = run("config", "unset", "service.uri")
    assert again.exit_code == 1 and again.error == f"Error: service.uri is not set in {path}"
    missing = run("config", "get", "no.such.key")
    assert missing.exit_code == 1 and missing.error.startswith("Error: no config key 'no.such.key'")


def test_set_refuses_bad_values_and_warns_about_unknown_keys(home: Path) -> None:
    path = home / "config" / "config.yaml"
    bad = run("config", "set", "http.timeout", "soon")
    assert bad.exit_code == 1 and bad.error.startswith("Error: bad config value for http.timeout: 'soon'")
    bad = run("config", "set", "service.uri", "example.com")
    assert bad.exit_code == 1 and "must start with http:// or https://" in bad.error
    assert not path.exists()
    unknown = run("config", "set", "htp.timeout", "3")
    assert unknown.exit_code == 0 and "Warning: htp.timeout is not a key the client reads" in unknown.stderr
    assert yaml.safe_load(path.read_text()) == {"htp": {"timeout": 3}}
    shadowed = run("config", "set", "log_level", "INFO", env={"ARRAYLAKE_LOG_LEVEL": "DEBUG"})
    assert "ARRAYLAKE_LOG_LEVEL is set in the environment and takes precedence" in shadowed.stderr


def test_init_writes_commented_defaults_and_given_values(home: Path) -> None:
    path = home / "config" / "config.yaml"
    assert run("config", "init").exit_code == 0
    text = path.read_text()
    assert "# service:" in text and "#   uri: http://127.0.0.1:8321" in text
    assert yaml.safe_load(text) is None  # all commented out
    again = run("config", "init")
    assert again.exit_code == 1 and "exists already" in again.error
    forced = run("config", "init", "--force", "--service-uri", "https://al.example.com", "-c", "user.org=lab")
    assert forced.exit_code == 0
    assert yaml.safe_load(path.read_text()) == {
        "service": {"uri": "https://al.example.com"},
        "user": {"org": "lab"},
    }
    assert value("user.org") == "lab"


def test_precedence_argument_environment_file_default(home: Path) -> None:
    assert value("service.uri") == DEFAULT_URI
    assert source_of("service.uri") == "default"

    run("config", "set", "service.uri", "http://from-file:1")
    assert value("service.uri") == "http://from-file:1"
    assert source_of("service.uri") == "file"

    env = {"ARRAYLAKE_SERVICE__URI": "http://from-env:2"}
    assert value("service.uri", env=env) == "http://from-env:2"
    assert source_of("service.uri", env=env) == "environment"

    assert value("service.uri", "--config", "service.uri=http://from-arg:3", env=env) == "http://from-arg:3"
    assert run(
        "--service-uri", "http://from-arg:4", "config", "get", "service.uri", env=env
    ).stdout.strip() == ("http://from-arg:4")
    assert source_of("service.uri", "--service-uri", "http://from-arg:4", env=env) == "argument"
    # the same options after the command
    assert run("config", "get", "service.uri", "--service-uri", "http://x:5").stdout.strip() == "http://x:5"
    # an override lasts for one command only
    assert value("service.uri") == "http://from-file:1"


def test_env_values_are_typed_and_nested(home: Path) -> None:
    env = {"ARRAYLAKE_HTTP__MAX_RETRIES": "3", "ARRAYLAKE_SERVICE__SSL__VERIFY": "False"}
    assert value("http.max_retries", env=env) == 3
    assert value("service.ssl.verify", env=env) is False
    assert value("http.max_retries", "-c", "http.max_retries=7", env=env) == 7


def test_list_masks_secrets_unless_revealed(home: Path) -> None:
    token = "ema_" + "k" * 43
    env = {"ARRAYLAKE_TOKEN": token}
    listed = run("config", "list", "--json", env=env).json()
    assert listed["token"] == "ema_********" and listed["service"]["uri"] == DEFAULT_URI
    assert "config" not in listed  # $ARRAYLAKE_CONFIG is where files are, not a setting
    table = run("config", "list", env=env).stdout
    assert token not in table and "ema_********" in table and "environment" in table
    assert run("config", "get", "token", env=env).stdout.strip() == "ema_********"
    assert run("config", "get", "token", "--reveal", env=env).stdout.strip() == token
    assert run("config", "list", "--json", "--reveal", env=env).json()["token"] == token


def test_client_defaults_come_from_the_config(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "ema_" + "c" * 43
    run("config", "set", "service.uri", "http://from-file:1")
    run("config", "set", "token", token)
    refresh()
    client = Client()
    assert client.service_uri == "http://from-file:1" and client.token == token
    monkeypatch.setenv("ARRAYLAKE_SERVICE__URI", "http://from-env:2")
    refresh()
    assert Client().service_uri == "http://from-env:2"
    assert Client("http://explicit:3").service_uri == "http://explicit:3"
    monkeypatch.delenv("ARRAYLAKE_SERVICE__URI")
    monkeypatch.delenv("ARRAYLAKE_CONFIG")
    refresh()
    assert Client().service_uri == DEFAULT_URI


@pytest.mark.parametrize("service", ["sqlite"], indirect=True)
def test_commands_use_the_configured_service_and_token(home: Path, service: ArraylakeService) -> None:
    org: Org = service.new_org("cfg")
    run("config", "set", "service.uri", service.url)
    run("config", "set", "token", org.token)
    run("config", "set", "user.org", org.name)
    assert run("repo", "create", f"{org.name}/configured").exit_code == 0
    listed = run("repo", "list", "--json")  # the org comes from user.org
    assert listed.exit_code == 0 and [r["name"] for r in listed.json()] == ["configured"]
    # the environment beats the file: a bad token from the environment is used (and refused)
    refused = Cli(service.url)("repo", "list", code=1, token="ema_" + "0" * 43)
    assert "HTTP 401" in refused.error
