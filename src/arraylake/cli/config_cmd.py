"""``arraylake config ...``: see and change the client configuration.

Layers, lowest first: packaged defaults < YAML files in the user config directory < ``ARRAYLAKE_*``
environment variables (``__`` for nesting) < ``--config KEY=VALUE`` / ``--service-uri`` on the command.
``set`` and ``unset`` edit ``config.yaml`` in the user config directory.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
import yaml
from donfig.config_obj import collect_env, collect_yaml, merge

from arraylake.cli import output, state
from arraylake.cli.config_check import KNOWN_KEYS, check_value, flatten
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, want_json
from arraylake.cli.system_report import is_secret, mask, masked
from arraylake.config import (
    defaults_file,
    read_config_file,
    user_config_dir,
    user_config_file,
    write_config_file,
)

app = ArraylakeTyper(
    name="config",
    help="See and change the configuration: files in `~/.config/arraylake/` (or `$ARRAYLAKE_CONFIG`), "
    "then `ARRAYLAKE_*` environment variables (`__` for nesting, e.g. `ARRAYLAKE_SERVICE__URI`), "
    "then `--config KEY=VALUE` on a command.",
)

Key = Annotated[str, typer.Argument(metavar="KEY", help="A dotted key, e.g. `service.uri`.")]
Reveal = Annotated[bool, typer.Option("--reveal", help="Show secrets (tokens) instead of masking them.")]


def sources() -> dict[str, str]:
    """Dotted key -> the layer its value comes from: argument, environment, file or default."""
    files = flatten(merge(*collect_yaml([str(user_config_dir())])))
    env = flatten(collect_env("ARRAYLAKE_"))
    found = {}
    for key in flatten(state.config().config):
        if key in state.state.overrides:
            found[key] = "argument"
        elif key in env:
            found[key] = "environment"
        elif key in files:
            found[key] = "file"
        else:
            found[key] = "default"
    return found


def _set_in(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = data
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[leaf] = value


def _unset_in(data: dict[str, Any], key: str) -> bool:
    """Remove ``key`` and the mappings it leaves empty; whether it was there."""
    head, _, rest = key.partition(".")
    if not rest:
        return data.pop(head, _MISSING) is not _MISSING
    child = data.get(head)
    if not isinstance(child, dict) or not _unset_in(child, rest):
        return False
    if not child:
        del data[head]
    return True


_MISSING = object()


def _shown(key: str, value: Any, reveal: bool) -> Any:
    if reveal:
        return value
    if isinstance(value, dict):
        return masked(value, f"{key}.")
    return mask(value) if value not in (None, "") and is_secret(key) else value


@app.command()
def get(key: Key, json_output: Json = False, reveal: Reveal = False) -> None:
    """The value in effect for KEY (secrets masked unless `--reveal`)."""
    try:
        value = _shown(key, state.config().get(key), reveal)
    except KeyError:
        output.fail(f"no config key {key!r} (see `arraylake config list`)")
    if want_json(json_output):
        output.print_json(value)
    elif isinstance(value, dict):
        typer.echo(yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip())
    else:
        typer.echo("null" if value is None else str(value))


def _overridden_by_env(key: str) -> str | None:
    name = "ARRAYLAKE_" + key.replace(".", "__").upper()
    return name if name in os.environ else None


@app.command("set")
def set_value(
    key: Key,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="Read as YAML: `10`, `true`, `null`, text.")],
) -> None:
    """Set KEY in the user config file."""
    parsed = state.parse_pair(f"{key}={value}")[1]
    check_value(key, parsed)
    if key not in KNOWN_KEYS:
        output.warn(
            f"{key} is not a key the client reads (known: {', '.join(KNOWN_KEYS)}); setting it anyway"
        )
    path = user_config_file()
    data = read_config_file(path)
    _set_in(data, key, parsed)
    write_config_file(path, data)
    output.say(f"Set {key} in {path}")
    env = _overridden_by_env(key)
    if env:
        output.warn(f"{env} is set in the environment and takes precedence")


@app.command()
def unset(key: Key) -> None:
    """Remove KEY from the user config file (the default, or another layer's value, applies again)."""
    path = user_config_file()
    data = read_config_file(path)
    if not _unset_in(data, key):
        output.fail(f"{key} is not set in {path}")
    write_config_file(path, data)
    output.say(f"Removed {key} from {path}")


@app.command("list")
def list_config(json_output: Json = False, reveal: Reveal = False) -> None:
    """Every value in effect and where it comes from (secrets masked unless `--reveal`)."""
    effective = {k: v for k, v in state.config().config.items() if not _env_quirk(k, v)}
    shown = effective if reveal else masked(effective)
    if want_json(json_output):
        output.print_json(shown)
        return
    origin = sources()
    output.table(
        ["Key", "Value", "Source"],
        [
            (key, "null" if value is None else value, origin.get(key, ""))
            for key, value in flatten(shown).items()
        ],
        title=f"Config (files in {user_config_dir()})",
    )


def _env_quirk(key: str, value: Any) -> bool:
    """``$ARRAYLAKE_CONFIG`` (a directory) shows up as a key ``config``; it is not a setting."""
    return key == "config" and value == os.environ.get("ARRAYLAKE_CONFIG")


def _commented_defaults() -> str:
    lines = defaults_file().read_text().splitlines()
    return "".join(
        f"# {line}\n" if line.strip() and not line.startswith("#") else f"{line}\n" for line in lines
    )


@app.command()
def init(
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Create the user config file: the defaults, commented out, for you to edit.

    Values given to this command (`--service-uri URL`, `--config KEY=VALUE`) are written as settings.
    """
    path = user_config_file()
    if path.exists() and not force:
        output.fail(f"{path} exists already; edit it, use `arraylake config set`, or pass --force")
    given: dict[str, Any] = {}
    for key, value in state.state.overrides.items():
        check_value(key, value)
        _set_in(given, key, value)
    header = "# Arraylake client configuration: values here override the defaults below.\n"
    write_config_file(path, given, header=header)
    with path.open("a") as f:
        f.write("\n# The packaged defaults:\n" + _commented_defaults())
    output.say(f"Created {path}")


@app.command()
def path() -> None:
    """Print the path of the user config file (`set` and `unset` edit it)."""
    typer.echo(str(user_config_file()))
