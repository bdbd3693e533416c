"""Run the ``arraylake`` command in-process with typer's runner, as a user would in a shell.

Every run has a home and a config directory of its own (nothing touches the real home), no
``ARRAYLAKE_*`` variables unless given, and the service named with ``--service-uri``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from arraylake.cli.main import app
from arraylake.config import refresh
from tests.support.access import device_login, unique
from tests.support.service import ArraylakeService
from tests.support.users import PASSWORD

_runner = CliRunner()


@dataclass
class Run:
    """What one command printed and how it ended."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error(self) -> str:
        """The one line a failed command printed on stderr."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got: {self.stderr!r}"
        return lines[0]


def run(*args: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Run:
    """``arraylake ARGS...`` in this process."""
    result = _runner.invoke(app, list(args), env=env, input=input, prog_name="arraylake")
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Run(tuple(args), result.exit_code, result.stdout, result.stderr, exception)


@dataclass
class Cli:
    """The command line pointed at one service, with an API token (or a user's id token)."""

    url: str
    token: str | None = None

    def __call__(
        self, *args: str, code: int = 0, token: str | None = None, input: str | None = None, **env: str
    ) -> Run:
        """Run ``arraylake --service-uri URL ARGS...`` and check its exit code."""
        variables: dict[str, str | None] = {"ARRAYLAKE_TOKEN": token or self.token, **env}
        result = run("--service-uri", self.url, *args, env=variables, input=input)
        assert result.exception is None, f"{args} raised {result.exception!r}\n{result.stderr}"
        assert result.exit_code == code, (
            f"{args} exited {result.exit_code}:\n{result.stdout}\n{result.stderr}"
        )
        if code != 0:
            assert "Traceback" not in result.stderr, result.stderr
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        """Run with ``--json`` and parse what it printed."""
        return self(*args, "--json", **kwargs).json()


@contextmanager
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home and a config directory of the test's own, and no ARRAYLAKE_* variables from outside.

    Afterwards the process-wide configuration is read again from the restored environment, so that no
    token or service of the test reaches a later test's ``Client()``.
    """
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in list(os.environ):
        if name.startswith("ARRAYLAKE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ARRAYLAKE_CONFIG", str(home / "config"))
    try:
        yield home
    finally:
        monkeypatch.undo()
        refresh()


@dataclass
class CliUser:
    """A user made with ``arraylake server user create`` (through the runner), logged in."""

    email: str
    id: str
    tokens: dict[str, Any]

    @property
    def token(self) -> str:
        return self.tokens["id_token"]


def create_user(
    service: ArraylakeService, name: str, *, org: str | None = None, role: str = "member"
) -> CliUser:
    """A new user of ``service`` (``server user create`` in this process), logged in by form posts."""
    email = f"{unique(name)}@example.com"
    args = ["server", "user", "create", "--data-dir", str(service.data_dir), "--email", email]
    args += ["--password-stdin", "--first-name", name.title(), "--family-name", "Tester"]
    if org:
        args += ["--org", org, "--role", role]
    with pytest.MonkeyPatch.context() as patch:
        # the server commands pass their settings on through the environment: undo that afterwards
        for key, value in service.env.items():
            if key.startswith("ARRAYLAKE_SERVER_"):
                patch.setenv(key, value)
        result = run(*args, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.stderr
    found = re.search(r"\(([0-9a-f-]{36})\)", result.stdout)
    assert found, result.stdout
    return CliUser(email, found.group(1), device_login(service, email))
