"""What one invocation of the command line was told: config overrides, ``--json``, ``--debug``.

Overrides (``--config k=v``, ``--service-uri``) are set on the process-wide configuration for as long as the
command's click context lives, so the ``Client`` the command makes picks them up as its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click
import yaml

from arraylake import config as config_mod
from arraylake._sync import run_sync
from arraylake.cli.config_check import check_config
from arraylake.client import Client


@dataclass
class Invocation:
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
        config_mod.refresh()
    except ValueError as exc:  # a malformed config file: reported when the config is needed
        state.config_error = exc


def parse_pair(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the value read as a YAML scalar (``10`` is a number, ``true`` a boolean)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value else ""
    except yaml.YAMLError:
        parsed = value
    return key.strip(), value if isinstance(parsed, dict | list) else parsed


def override(ctx: click.Context, values: dict[str, Any]) -> None:
    """Set config values for the rest of this invocation."""
    if values:
        state.overrides.update(values)
        ctx.with_resource(config_mod.config.set(values))


def config() -> Any:
    """The configuration in effect, once it is known to be readable."""
    if state.config_error is not None:
        raise state.config_error
    return config_mod.config


def client() -> Client:
    """A ``Client`` from the configuration in effect, checked first; closed with the command."""
    check_config(config())
    made = Client()
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(lambda: run_sync(made.aclient.aclose()))
    return made
