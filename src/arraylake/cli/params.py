"""Arguments and options that several commands share."""

from __future__ import annotations

from typing import Annotated

import typer

from arraylake.cli import state

Json = Annotated[bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
Org = Annotated[str, typer.Argument(metavar="ORG", help="Name of the org.", show_default=False)]
RepoName = Annotated[
    str, typer.Argument(metavar="ORG/REPO", help="Full name of the repo.", show_default=False)
]
Principal = Annotated[
    str, typer.Argument(metavar="PRINCIPAL", help="A user's email or id, or an API client's id.")
]


def want_json(flag: bool) -> bool:
    """Whether to print JSON: the command's ``--json`` or the root's."""
    return flag or state.state.json
