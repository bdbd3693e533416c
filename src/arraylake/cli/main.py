"""Entry point of the ``arraylake`` (alias ``al``) command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from arraylake._version import __version__
from arraylake.cli import auth, bucket, config_cmd, diagnostics, org, repo, server, state
from arraylake.cli.core import ArraylakeTyper, ConfigPairs, Debug, RootGroup, ServiceUri, apply_global_options

HELP = """Arraylake, open and self-hosted: version-controlled array repositories in your own storage.

Log in with `arraylake auth login` (or set an API token: `ARRAYLAKE_TOKEN=ema_...`), then work with
repos, buckets and orgs. Which service to talk to comes from the config (`arraylake config list`),
or from `--service-uri` on any command. Add `--json` to listing and info commands for scripts.
"""

app = ArraylakeTyper(name="arraylake", cls=RootGroup, help=HELP, invoke_without_command=True)
app.add_typer(auth.app, name="auth")
app.add_typer(org.app, name="org")
app.add_typer(repo.app, name="repo")
app.add_typer(bucket.app, name="bucket")
app.add_typer(config_cmd.app, name="config")
app.add_typer(server.app, name="server")


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
        diagnostics.show(json_output)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)


def main() -> None:
    """Run the command line (``arraylake``, ``al`` and ``python -m arraylake``)."""
    name = Path(sys.argv[0]).name
    app(prog_name=name if name in ("al", "arraylake") else "arraylake")
