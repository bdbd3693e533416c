"""``arraylake audit list|export|verify``: the audit log of an org (its admins) or of the whole service
(operators)."""

from __future__ import annotations

from arraylake.cli.core import ArraylakeTyper

app = ArraylakeTyper(
    name="audit",
    help="The audit log: list and export security events, and verify that nobody changed them.",
    no_args_is_help=True,
)
