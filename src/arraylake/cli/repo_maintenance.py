"""``arraylake repo maintenance show|set|run|history``: a repo's expiration and garbage-collection policy and
its runs."""

from __future__ import annotations

from arraylake.cli.core import ArraylakeTyper

app = ArraylakeTyper(
    help="A repo's scheduled maintenance: expiring old snapshots and collecting garbage, in a weekly window.",
    no_args_is_help=True,
)
