"""Layered configuration of the client: packaged defaults < config files < ``ARRAYLAKE_*`` environment.

Files are every ``*.yaml``/``*.yml``/``*.json`` in ``$ARRAYLAKE_CONFIG`` (a directory) or else
``~/.config/arraylake/``. Environment variables use ``__`` for nesting: ``ARRAYLAKE_SERVICE__URI``,
``ARRAYLAKE_TOKEN``. Explicit arguments (``Client(service_uri=...)``) beat all of them.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import yaml
from donfig import Config

_DEFAULTS_FILE = Path(__file__).with_name("config.yaml")
_ENV_PREFIX = "ARRAYLAKE_"


def user_config_dir() -> Path:
    """The directory whose YAML files are merged into the configuration."""
    override = os.environ.get("ARRAYLAKE_CONFIG")
    return Path(override) if override else Path.home() / ".config" / "arraylake"


def user_config_file() -> Path:
    """The file in the user config directory that ``arraylake config set`` edits."""
    return user_config_dir() / "config.yaml"


def defaults_file() -> Path:
    """The packaged defaults (a commented YAML file)."""
    return _DEFAULTS_FILE


def _load_defaults() -> dict:
    with _DEFAULTS_FILE.open() as f:
        return yaml.safe_load(f)


def _new_config() -> Config:
    try:
        return Config("arraylake", defaults=[_load_defaults()], paths=[str(user_config_dir())])
    except ValueError as exc:
        # A malformed config file must not make `import arraylake` fail; refresh() raises it again.
        warnings.warn(f"{exc}: using the defaults and the environment only", UserWarning, stacklevel=2)
        fallback = Config("arraylake", defaults=[_load_defaults()], paths=[])
        fallback.paths = [str(user_config_dir())]
        return fallback


config: Config = _new_config()
"""The process-wide configuration (a donfig ``Config``): ``config.get("service.uri")``."""


def refresh() -> None:
    """Re-read files and environment, e.g. after changing ``ARRAYLAKE_*`` variables in-process."""
    config.paths = [str(user_config_dir())]
    config.refresh()


def _has_key(data: Any, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def source_of(key: str) -> str:
    """Where the value of a dotted key comes from, for people: ``environment variable ARRAYLAKE_TOKEN``,
    ``config file PATH`` or ``default`` (values set in-process, such as ``config.set``, are not seen)."""
    for name in sorted(os.environ):
        if name.startswith(_ENV_PREFIX) and name[len(_ENV_PREFIX) :].lower().replace("__", ".") == key:
            return f"environment variable {name}"
    directory = user_config_dir()
    try:
        files = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".json", ".yaml", ".yml"))
    except OSError:
        files = []
    for path in reversed(files):  # the last file read wins
        try:
            if _has_key(read_config_file(path), key):
                return f"config file {path}"
        except (ValueError, OSError):
            continue
    return "default"


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in one YAML config file; ``{}`` if it does not exist or is empty."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping, not a {type(data).__name__}")
    return data


def write_config_file(path: Path, data: dict[str, Any], *, header: str = "") -> None:
    """Replace a YAML config file atomically, readable by its owner only (it may hold a token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(header)
            if data:
                yaml.safe_dump(data, f, default_flow_style=False, sort_keys=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
