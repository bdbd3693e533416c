"""``arraylake audit list|export|verify``: the audit log of an org (its admins) or of the whole service
(operators)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, want_json

if TYPE_CHECKING:
    from arraylake.types.audit import AuditEntry

app = ArraylakeTyper(
    name="audit",
    help="The audit log: list and export an org's security events, and verify that nobody changed them.\n\n"
    "With ORG, the org's log (its admins may read it); without, every org's (the service's operators may).",
    no_args_is_help=True,
)


def _moment(value: str | None) -> str | None:
    """An ISO 8601 time, checked here so that a typo is a usage error rather than the service's 422."""
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO 8601 time such as 2025-01-31T12:00:00Z, got {value!r}"
        ) from None
    return value


OptionalOrg = Annotated[
    str | None,
    typer.Argument(
        metavar="ORG",
        help="The org whose log to read (org admins); omit for every org's (service operators).",
        show_default=False,
    ),
]
PrincipalFilter = Annotated[
    str | None,
    typer.Option("--principal", metavar="WHO", help="Only events of this actor (an email or principal id)."),
]
RepoFilter = Annotated[
    str | None, typer.Option("--repo", metavar="REPO", help="Only events about this repo.")
]
ActionFilter = Annotated[
    str | None,
    typer.Option(
        "--action",
        metavar="ACTION",
        help="Only this action (e.g. repo.delete), or every action of a domain, ending in '.' (e.g. auth.).",
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        "--since", metavar="ISO", callback=_moment, help="Only events at or after this time (ISO 8601)."
    ),
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until", metavar="ISO", callback=_moment, help="Only events at or before this time (ISO 8601)."
    ),
]


def _entries(
    org: str | None,
    *,
    principal: str | None,
    repo: str | None,
    action: str | None,
    since: str | None,
    until: str | None,
    limit: int | None,
) -> Iterator[AuditEntry]:
    """The entries, newest first, fetched a page at a time as they are consumed."""
    from arraylake.client.io_loop import run_sync

    entries = state.client().aclient.iter_audit_entries(
        org, principal=principal, repo=repo, action=action, since=since, until=until, limit=limit
    )

    async def next_entry() -> AuditEntry | None:
        return await anext(entries, None)

    try:
        while (entry := run_sync(next_entry())) is not None:
            yield entry
    finally:
        run_sync(entries.aclose())


@app.command("list")
def list_entries(
    org: OptionalOrg = None,
    principal: PrincipalFilter = None,
    repo: RepoFilter = None,
    action: ActionFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="At most N events.")] = 50,
    json_output: Json = False,
) -> None:
    """Audit events, newest first: who did what, when, where, and whether it worked."""
    entries = list(
        _entries(org, principal=principal, repo=repo, action=action, since=since, until=until, limit=limit)
    )
    if want_json(json_output):
        output.print_json(entries)
        return
    columns = [
        "Seq",
        "Time",
        "Action",
        "Outcome",
        "Actor",
        *([] if org else ["Org"]),
        "Repo",
        "Target",
        "Details",
    ]
    output.table(
        columns,
        [
            (
                e.seq,
                e.at.strftime("%Y-%m-%d %H:%M:%S"),
                e.action,
                e.outcome,
                e.actor,
                *([] if org else [e.org]),
                e.repo,
                e.target,
                e.details,
            )
            for e in entries
        ],
        title=f"Audit log of {org}" if org else "Audit log",
    )


@contextmanager
def _destination(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8") as file:
        yield file


@app.command("export")
def export_entries(
    org: OptionalOrg = None,
    principal: PrincipalFilter = None,
    repo: RepoFilter = None,
    action: ActionFilter = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, metavar="N", help="At most N events (default: all).")
    ] = None,
    output_file: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."),
    ] = None,
) -> None:
    """Every matching audit event as JSON lines (one event per line, newest first), streamed page by page."""
    count = 0
    with _destination(output_file) as out:
        for entry in _entries(
            org, principal=principal, repo=repo, action=action, since=since, until=until, limit=limit
        ):
            out.write(json.dumps(output.jsonable(entry.model_dump(mode="json")), ensure_ascii=False) + "\n")
            count += 1
    if output_file is not None:
        output.say(f"Wrote {count} audit event(s) to {output_file}.")


@app.command("verify")
def verify(org: OptionalOrg = None, json_output: Json = False) -> None:
    """Check that no audit event was changed, removed or reordered: every hash, the chain of hashes and
    the service's signed checkpoints. Exits 1 and names the first broken entry when the chain does not
    hold."""
    result = state.client().verify_audit_log(org)
    if want_json(json_output):
        output.print_json(result)
    elif result.ok:
        span = f" ({result.first_seq} to {result.last_seq})" if result.entries else ""
        output.say(
            f"[green]OK[/green]: {result.entries} audit entries{span} and {result.checkpoints} signed "
            "checkpoint(s) verified."
        )
    if not result.ok:
        output.fail(f"the audit log is broken at entry {result.broken_seq}: {result.problem}")
