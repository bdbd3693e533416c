"""Entry point of the ``arraylake`` (alias ``al``) command."""

from __future__ import annotations

import typer

from arraylake.cli import server

app = typer.Typer(
    name="arraylake",
    help="Arraylake, open and self-hosted: version-controlled array repositories in your own storage.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(server.app, name="server")


def main() -> None:
    app()
