"""``arraylake repo migrate``: a V1 repo copied, with its history, into a new Icechunk repo."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, RepoName, want_json

if TYPE_CHECKING:
    from arraylake.repos.v1.migrate import MigrationProgress, MigrationReport

app = ArraylakeTyper()


@contextmanager
def _bar(name: str) -> Iterator[Callable[[MigrationProgress], None]]:
    """A progress bar on stderr (only on a terminal): commits copied, then refs verified."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=output.err_console, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def update(step: MigrationProgress) -> None:
            if step.stage not in tasks:
                what = "Copying commits of" if step.stage == "copy" else "Verifying branches and tags of"
                tasks[step.stage] = progress.add_task(escape(f"{what} {name}"), total=step.total)
            progress.update(tasks[step.stage], completed=step.done, total=step.total)

        yield update


def _summary(report: MigrationReport) -> None:
    resumed = f", {report.already_copied} copied by an earlier run" if report.already_copied else ""
    output.say(
        f"Migrated [bold]{escape(report.source)}[/bold] to [bold]{escape(report.target)}[/bold]: "
        f"{report.commits} commits, {report.copied} copied now{resumed}; "
        f"{len(report.branches)} branches, {len(report.tags)} tags."
    )
    if not report.verified:
        output.say("Not verified (--no-verify).")
        return
    output.table(
        ["Ref", "V1 commit", "Snapshot", "Groups", "Arrays", "Result"],
        [
            (
                f"{c.kind} {c.name}",
                c.commit_id,
                c.snapshot_id,
                c.groups,
                c.arrays,
                "same" if c.ok else "DIFFERS",
            )
            for c in report.checks
        ],
        title=f"Verification of {report.target} against {report.source}",
    )


@app.command()
def migrate(
    name: RepoName,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            metavar="[ORG/]NAME",
            help="The new Icechunk repo; default: ORG/REPO-icechunk.",
            show_default=False,
        ),
    ] = None,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket-config-nickname",
            "--bucket",
            "-b",
            help="Bucket for the new repo; default: the V1 repo's.",
        ),
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="Compare every array at every branch tip and tag afterwards (the default).",
        ),
    ] = True,
    json_output: Json = False,
) -> None:
    """Copy a V1 repo, with its history, into a new Icechunk repo (the V1 repo stays as it is).

    Every V1 commit becomes a snapshot with the same message, oldest first, keeping the original
    author and time in its metadata; branches and tags follow. Interrupted, the same command resumes
    where it stopped; run again when done, it only verifies. A difference found by verification is
    listed and the command fails.
    """
    from arraylake.repos.v1.migrate import MigrationVerificationError

    client = state.client()
    failed: MigrationVerificationError | None = None
    with _bar(name) as on_progress:
        try:
            report = client.migrate_v1_repo(
                name, to=to, bucket_config_nickname=bucket, verify=verify, on_progress=on_progress
            )
        except MigrationVerificationError as exc:
            failed, report = exc, exc.report
    if want_json(json_output):
        output.print_json({**dataclasses.asdict(report), "mismatches": report.mismatches, "ok": report.ok})
    else:
        _summary(report)
        for mismatch in report.mismatches:
            output.warn(mismatch)
    if failed is not None:
        count = len(report.mismatches)
        output.fail(f"{report.target} differs from {report.source} in {count} place{'s' * (count != 1)}")
