"""Client defaults from configuration: explicit argument > ARRAYLAKE_* environment > config files > packaged
defaults."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from arraylake import AsyncClient, Client
from arraylake.config import config, refresh, user_config_dir

PACKAGED_URI = "http://127.0.0.1:8321"
FILE_URI = "http://from-file.example:1111"
ENV_URI = "http://from-env.example:2222"
ARG_URI = "http://from-argument.example:3333"
FILE_TOKEN = "ema_" + "f" * 40
ENV_TOKEN = "ema_" + "e" * 40
ARG_TOKEN = "ema_" + "a" * 40


@pytest.fixture
def config_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An empty config directory and no ARRAYLAKE_* variables; the real configuration comes back after."""
    for name in list(os.environ):
        if name.startswith("ARRAYLAKE_"):
            monkeypatch.delenv(name)
    directory = tmp_path / "arraylake-config"
    directory.mkdir()
    monkeypatch.setenv("ARRAYLAKE_CONFIG", str(directory))
    refresh()
    yield directory
    monkeypatch.undo()
    refresh()


def write_config(directory: Path, data: dict, name: str = "config.yaml") -> None:
    (directory / name).write_text(yaml.safe_dump(data))


def test_packaged_defaults(config_dir: Path) -> None:
    assert user_config_dir() == config_dir
    client = Client()
    assert client.service_uri == PACKAGED_URI
    assert client.token is None
    settings = client.aclient._transport.settings
    assert settings.max_retries == 10 and settings.retries == 5 and settings.timeout == 300


def test_environment_variables(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARRAYLAKE_SERVICE__URI", ENV_URI)
    monkeypatch.setenv("ARRAYLAKE_TOKEN", ENV_TOKEN)
    monkeypatch.setenv("ARRAYLAKE_HTTP__MAX_RETRIES", "3")
    refresh()
    for client in (Client(), AsyncClient()):
        assert client.service_uri == ENV_URI
        assert client.token == ENV_TOKEN
    assert Client().aclient._transport.settings.max_retries == 3
    assert AsyncClient()._transport.auth.authorization() == f"Bearer {ENV_TOKEN}"


def test_yaml_file_in_the_config_directory(config_dir: Path) -> None:
    write_config(config_dir, {"service": {"uri": FILE_URI}, "token": FILE_TOKEN, "http": {"timeout": 12}})
    refresh()
    assert config.get("service.uri") == FILE_URI
    client = Client()
    assert client.service_uri == FILE_URI and client.token == FILE_TOKEN
    assert client.aclient._transport.settings.timeout == 12
    # keys the file does not set keep their packaged defaults
    assert client.aclient._transport.settings.max_retries == 10


def test_environment_beats_file(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(config_dir, {"service": {"uri": FILE_URI}, "token": FILE_TOKEN})
    monkeypatch.setenv("ARRAYLAKE_SERVICE__URI", ENV_URI)
    refresh()
    client = Client()
    assert client.service_uri == ENV_URI
    assert client.token == FILE_TOKEN  # not overridden by the environment: the file's


def test_explicit_arguments_beat_everything(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(config_dir, {"service": {"uri": FILE_URI}, "token": FILE_TOKEN})
    monkeypatch.setenv("ARRAYLAKE_SERVICE__URI", ENV_URI)
    monkeypatch.setenv("ARRAYLAKE_TOKEN", ENV_TOKEN)
    refresh()
    client = Client(service_uri=ARG_URI, token=ARG_TOKEN)
    assert client.service_uri == ARG_URI and client.token == ARG_TOKEN
    aclient = AsyncClient(ARG_URI, token=ARG_TOKEN)
    assert aclient.service_uri == ARG_URI and aclient.token == ARG_TOKEN
    assert aclient._transport.service_uri == ARG_URI


def test_refresh_picks_up_a_changed_environment(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARRAYLAKE_SERVICE__URI", ENV_URI)
    refresh()
    assert Client().service_uri == ENV_URI
    monkeypatch.delenv("ARRAYLAKE_SERVICE__URI")
    refresh()
    assert Client().service_uri == PACKAGED_URI


@pytest.mark.parametrize("token", ["not-a-token", "EMA_" + "x" * 40, "Bearer ema_" + "x" * 40, "ema"])
def test_a_token_not_starting_with_ema_is_refused(config_dir: Path, token: str) -> None:
    with pytest.raises(ValueError, match="start with 'ema_'"):
        Client(token=token)
    with pytest.raises(ValueError, match="start with 'ema_'"):
        AsyncClient(token=token)


def test_a_configured_bad_token_is_refused(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARRAYLAKE_TOKEN", "sk-not-arraylake")
    refresh()
    with pytest.raises(ValueError, match="start with 'ema_'"):
        Client()
    monkeypatch.delenv("ARRAYLAKE_TOKEN")
    write_config(config_dir, {"token": "sk-not-arraylake"})
    refresh()
    with pytest.raises(ValueError, match="start with 'ema_'"):
        Client()


def test_a_bad_service_uri_is_refused(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARRAYLAKE_SERVICE__URI", "127.0.0.1:8321")
    refresh()
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        Client()
