"""What one invocation of the command line was told: config overrides, ``--json``, ``--debug``.

Overrides (``--config k=v``, ``--service-uri``) are set on the process-wide configuration for as long as the
command's click context lives, so the ``Client`` the command makes picks them up as its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer
import yaml

from arraylake.config import config as _config
from arraylake.config import refresh

if TYPE_CHECKING:
    from arraylake.client import Client


@dataclass
class Invocation:
    ctx: typer.Context | None = None
    debug: bool = False
    json: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)
    config_error: Exception | None = None


state = Invocation()


def start() -> None:
    """Forget the previous invocation (tests run many in one process) and re-read files and environment."""
    global state
    state = Invocation()
    try:
        refresh()
    except ValueError as exc:  # a malformed config file: reported when the config is needed
        state.config_error = exc


def parse_pair(text: str, option: str = "--config") -> tuple[str, Any]:
    """``KEY=VALUE`` with the value read as a YAML scalar (``10`` is a number, ``true`` a boolean)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise typer.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint=f"'{option}'")
    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), value if isinstance(parsed, dict | list) else parsed


def override(values: dict[str, Any]) -> None:
    """Set config values for the rest of this command (until its context closes)."""
    if values:
        assert state.ctx is not None, "global options are applied first"
        state.overrides.update(values)
        state.ctx.with_resource(_config.set(values))


def config() -> Any:
    """The configuration in effect, once it is known to be readable."""
    if state.config_error is not None:
        raise state.config_error
    return _config


def client() -> Client:
    """A ``Client`` from the configuration in effect, checked first; closed with the command.

    While the command runs, every retry of a request is told on stderr, so a wait is never silent.
    """
    from arraylake.cli.config_check import check_config  # pydantic: only for commands that need it
    from arraylake.cli.output import note
    from arraylake.client import Client
    from arraylake.client.io_loop import run_sync
    from arraylake.client.transport import retry_notices

    check_config(config())
    made = Client()
    if state.ctx is not None:
        state.ctx.with_resource(retry_notices(lambda retry: note(str(retry))))
        state.ctx.call_on_close(lambda: run_sync(made.aclient.aclose()))
    return made
