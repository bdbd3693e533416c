"""Layered configuration of the client: packaged defaults < config files < ``ARRAYLAKE_*`` environment.

Files are every ``*.yaml``/``*.yml``/``*.json`` in ``$ARRAYLAKE_CONFIG`` (a directory) or else
``~/.config/arraylake/``. Environment variables use ``__`` for nesting: ``ARRAYLAKE_SERVICE__URI``,
``ARRAYLAKE_TOKEN``. Explicit arguments (``Client(service_uri=...)``) beat all of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from donfig import Config

_DEFAULTS_FILE = Path(__file__).with_name("config.yaml")


def user_config_dir() -> Path:
    """The directory whose YAML files are merged into the configuration."""
    override = os.environ.get("ARRAYLAKE_CONFIG")
    return Path(override) if override else Path.home() / ".config" / "arraylake"


def _load_defaults() -> dict:
    with _DEFAULTS_FILE.open() as f:
        return yaml.safe_load(f)


config: Config = Config("arraylake", defaults=[_load_defaults()], paths=[str(user_config_dir())])
"""The process-wide configuration (a donfig ``Config``): ``config.get("service.uri")``."""


def refresh() -> None:
    """Re-read files and environment, e.g. after changing ``ARRAYLAKE_*`` variables in-process."""
    config.paths = [str(user_config_dir())]
    config.refresh()
