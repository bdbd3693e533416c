"""Entry point of the ``arraylake`` (alias ``al``) command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from arraylake._version import __version__
from arraylake.cli import state
from arraylake.cli.core import (
    ArraylakeTyper,
    ConfigPairs,
    Debug,
    LazyGroup,
    RootGroup,
    ServiceUri,
    apply_global_options,
)

HELP = """Arraylake, open and self-hosted: version-controlled array repositories in your own storage.

Log in with `arraylake auth login` (or set an API token: `ARRAYLAKE_TOKEN=ema_...`), then work with
repos, buckets and orgs. Which service to talk to comes from the config (`arraylake config list`),
or from `--service-uri` on any command. Add `--json` to listing and info commands for scripts.
"""

GROUPS = {
    "auth": LazyGroup("arraylake.cli.auth", "Log in to a service, see who you are, print your token."),
    "org": LazyGroup("arraylake.cli.org", "Orgs, their members and roles, and their API clients."),
    "repo": LazyGroup(
        "arraylake.cli.repo",
        "Repos: list, create and delete them, look inside, grant access, and migrate V1 repos to Icechunk.",
    ),
    "bucket": LazyGroup(
        "arraylake.cli.bucket",
        "Bucket configs: where an org's repos keep their data (the buckets themselves are not touched).",
    ),
    "audit": LazyGroup(
        "arraylake.cli.audit",
        "The audit log: list and export an org's security events, and verify that nobody changed them.",
    ),
    "compute": LazyGroup(
        "arraylake.cli.compute",
        "Compute services: serve every repo of an org over EDR, WMS, Tiles, DAP2/OPeNDAP or Zarr.",
    ),
    "config": LazyGroup(
        "arraylake.cli.config_cmd",
        "See and change the configuration: files in `~/.config/arraylake/` (or `$ARRAYLAKE_CONFIG`), "
        "then `ARRAYLAKE_*` environment variables (`__` for nesting, e.g. `ARRAYLAKE_SERVICE__URI`), "
        "then `--config KEY=VALUE` on a command.",
    ),
    "server": LazyGroup(
        "arraylake.cli.server",
        "Run and administer an Arraylake service (needs the `server` extra: "
        "`pip install 'arraylake-open[server]'`).",
    ),
}


class ArraylakeGroup(RootGroup):
    lazy = GROUPS


app = ArraylakeTyper(name="arraylake", cls=ArraylakeGroup, help=HELP, invoke_without_command=True)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"arraylake, version {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
    show_diagnostics: Annotated[
        bool,
        typer.Option(
            "--diagnostics",
            help="Print versions, the service's version and the config in effect (secrets masked); exit.",
        ),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    service_uri: ServiceUri = None,
    config: ConfigPairs = None,
    debug: Debug = False,
) -> None:
    apply_global_options(ctx, service_uri, config, debug)
    state.state.json = json_output
    if show_diagnostics:
        from arraylake.cli import diagnostics

        diagnostics.show(json_output)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)


def main() -> None:
    """Run the command line (``arraylake``, ``al`` and ``python -m arraylake``)."""
    name = Path(sys.argv[0]).name
    app(prog_name=name if name in ("al", "arraylake") else "arraylake")
