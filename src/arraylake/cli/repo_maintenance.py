"""``arraylake repo maintenance show|set|run|history``: a repo's expiration and garbage-collection policy and
its runs.

The policy options (``--window``, ``--expire-older-than``, ``--gc-margin``...) are shared with ``arraylake org
set-maintenance``, which sets an org's default.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, RepoName, want_json
from arraylake.client.maintenance import KEEP
from arraylake.types.maintenance import (
    EffectiveMaintenance,
    ExpirationConfig,
    GCConfig,
    MaintenanceReport,
    MaintenanceRun,
    OptimizationConfig,
    Reclaimed,
    describe_duration,
    describe_window,
    parse_duration,
)

app = ArraylakeTyper(
    help="A repo's scheduled maintenance: expiring old snapshots and collecting garbage, in a weekly window.",
    no_args_is_help=True,
)

PARTS = ("window", "expiration", "gc")


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


Window = Annotated[
    str | None,
    typer.Option(
        "--window",
        metavar="'DAY HH:MM DURATION'",
        help="When the service may work, weekly, in UTC, e.g. 'sun 02:00 6h'.",
        show_default=False,
    ),
]
ExpireOlderThan = Annotated[
    timedelta | None,
    typer.Option(
        "--expire-older-than",
        metavar="AGE",
        parser=_duration,
        help="Expire snapshots older than this (30d, 12h, 90m); branch tips, tags and the first snapshot "
        "stay. Turns expiration on unless --no-expiration.",
        show_default=False,
    ),
]
Expiration = Annotated[
    bool | None,
    typer.Option("--expiration/--no-expiration", help="Turn expiration on or off.", show_default=False),
]
Gc = Annotated[
    bool | None,
    typer.Option(
        "--gc/--no-gc",
        help="Turn garbage collection on or off: delete chunks, manifests, snapshots and transaction logs "
        "that no branch or tag reaches, once older than the margin.",
        show_default=False,
    ),
]
GcMargin = Annotated[
    timedelta | None,
    typer.Option(
        "--gc-margin",
        metavar="AGE",
        parser=_duration,
        help="GC's safety margin: unreachable objects younger than this are kept (e.g. 1d; the service "
        "has a minimum).",
        show_default=False,
    ),
]
Keep = Annotated[
    list[str] | None,
    typer.Option(
        "--keep",
        metavar="SNAPSHOT_ID",
        help="Keep this snapshot and its history from GC as if a branch pointed at it (repeatable; "
        "replaces the kept set; --keep '' clears it).",
        show_default=False,
    ),
]
Inherit = Annotated[
    list[str] | None,
    typer.Option(
        "--inherit",
        metavar="PART",
        help="Let a part (window, expiration or gc) fall back to the default again (repeatable).",
        show_default=False,
    ),
]
Reset = Annotated[
    bool,
    typer.Option("--reset", help="Start from nothing: every part not given falls back to the default."),
]


def policy_changes(
    *,
    window: str | None,
    expire_older_than: timedelta | None,
    expiration: bool | None,
    gc: bool | None,
    gc_margin: timedelta | None,
    keep: list[str] | None,
    inherit: list[str] | None,
    reset: bool,
) -> dict[str, Any]:
    """The arguments of ``Client.set_maintenance`` (or ``set_org_maintenance``) the options ask for."""
    changes: dict[str, Any] = {
        "window": KEEP if window is None else window,
        "expire_older_than": KEEP if expire_older_than is None else expire_older_than,
        "expiration": KEEP if expiration is None else expiration,
        "gc": KEEP if gc is None else gc,
        "gc_margin": KEEP if gc_margin is None else gc_margin,
        "extra_roots": KEEP if keep is None else [root for root in keep if root],
        "reset": reset,
    }
    for part in inherit or []:
        if part not in PARTS:
            raise typer.BadParameter(f"{part!r}: give window, expiration or gc", param_hint="'--inherit'")
        changes[part] = None
    if not reset and all(value is KEEP for key, value in changes.items() if key != "reset"):
        raise typer.BadParameter(
            "nothing to change: give --window, --expire-older-than, --expiration/--no-expiration, "
            "--gc/--no-gc, --gc-margin, --keep, --inherit or --reset"
        )
    return changes


def size(count: int | None) -> str:
    """Bytes for people: 1.5 GiB."""
    if count is None:
        return "unknown"
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def describe_expiration(expiration: ExpirationConfig | None) -> str:
    if expiration is None or not expiration.enabled:
        return "off"
    return f"on: snapshots older than {describe_duration(expiration.expire_versions_older_than)}"


def describe_gc(gc: GCConfig | None, margin: timedelta | None = None) -> str:
    if gc is None or not gc.enabled:
        return "off"
    margins = gc.margins()
    margin = margin if margin is not None else max(margins) if margins else None
    text = "on" + (f": unreachable objects older than {describe_duration(margin)}" if margin else "")
    if gc.extra_gc_roots:
        text += f", keeping {len(gc.extra_gc_roots)} extra root(s): {', '.join(sorted(gc.extra_gc_roots))}"
    return text


def describe_policy(config: OptimizationConfig, fallback: str) -> dict[str, str]:
    """An org's (or a repo's own) policy, part by part; unset parts say where they come from."""
    return {
        "Window (UTC)": describe_window(config.window) if config.window else f"({fallback})",
        "Expiration": describe_expiration(config.expiration_config)
        if config.expiration_config
        else f"({fallback})",
        "Garbage collection": describe_gc(config.gc_config) if config.gc_config else f"({fallback})",
    }


def _effective_rows(effective: EffectiveMaintenance) -> dict[str, str]:
    return {
        "Window (UTC)": f"{describe_window(effective.window)}  [{effective.window_source}]",
        "Expiration": f"{describe_expiration(effective.expiration)}  [{effective.expiration_source}]",
        "Garbage collection": f"{describe_gc(effective.gc, effective.gc_margin)}  [{effective.gc_source}]",
        "Next window": output.when(effective.next_window_start)
        if effective.next_window_start
        else "none (expiration and GC are off)",
    }


def _run_summary(run: MaintenanceRun) -> str:
    kind = "dry run" if run.dry_run else "run"
    text = f"{kind} {run.state}"
    ended = run.finished_at or run.started_at or run.requested_at
    text += f" {output.when(ended)}"
    if run.report is not None:
        text += f": {_report_summary(run.report)}"
    if run.error:
        text += f": {run.error}"
    return text


def _reclaimed(reclaimed: Reclaimed | None) -> str:
    if reclaimed is None:
        return ""
    return f"{reclaimed.objects} objects, {size(reclaimed.bytes)}"


def _report_summary(report: MaintenanceReport) -> str:
    verb = "would expire" if report.dry_run else "expired"
    parts = [f"{verb} {report.expired_snapshots} snapshot(s)"]
    if report.reclaimed is not None:
        parts.append(f"{'would reclaim' if report.dry_run else 'reclaimed'} {_reclaimed(report.reclaimed)}")
    return ", ".join(parts)


@app.command()
def show(name: RepoName, json_output: Json = False) -> None:
    """The repo's maintenance: each part of the policy and where it comes from (repo, org or service), the
    next window, the last run and the repo's size."""
    found = state.client().get_maintenance(name)
    if want_json(json_output):
        output.print_json(found)
        return
    rows = _effective_rows(found.effective)
    rows["Size"] = size(found.size_bytes) + (
        f" (measured {output.when(found.size_measured_at)})" if found.size_measured_at else ""
    )
    rows["Last run"] = _run_summary(found.last_run) if found.last_run else "none yet"
    output.details(rows, title=f"Maintenance of {name}")


@app.command("set")
def set_policy(
    name: RepoName,
    window: Window = None,
    expire_older_than: ExpireOlderThan = None,
    expiration: Expiration = None,
    gc: Gc = None,
    gc_margin: GcMargin = None,
    keep: Keep = None,
    inherit: Inherit = None,
    reset: Reset = False,
    json_output: Json = False,
) -> None:
    """Change the repo's maintenance policy (needs the right to manage the repo); options not given keep
    their value. Parts the repo does not set come from the org's default (`arraylake org set-maintenance`).

    Example: `arraylake repo maintenance set ORG/REPO --window 'sun 02:00 6h' --expire-older-than 30d --gc`
    """
    changes = policy_changes(
        window=window,
        expire_older_than=expire_older_than,
        expiration=expiration,
        gc=gc,
        gc_margin=gc_margin,
        keep=keep,
        inherit=inherit,
        reset=reset,
    )
    found = state.client().set_maintenance(name, **changes)
    if want_json(json_output):
        output.print_json(found)
        return
    output.details(_effective_rows(found.effective), title=f"Maintenance of {name}")


def print_report(run: MaintenanceRun) -> None:
    """A run's report: per branch and tag the snapshots expired, and what GC reclaimed."""
    report = run.report
    if report is None:
        return
    dry = " (dry run: nothing was deleted)" if report.dry_run else ""
    if report.expire_before is not None:
        output.table(
            ["Ref", "Kind", "Tip", "Expired", "Kept"],
            [(r.ref, r.kind, r.tip, len(r.expired), r.kept) for r in report.refs],
            title=f"Expiration of snapshots before {output.when(report.expire_before)} UTC{dry}",
        )
        expired = [(s.id, r.ref, s.written_at, s.message) for r in report.refs for s in r.expired]
        if expired:
            output.table(["Snapshot", "Ref", "Written", "Message"], expired, title="Expired snapshots")
    if report.reclaimed is not None:
        r = report.reclaimed
        output.details(
            {
                "Chunks": r.chunks,
                "Manifests": r.manifests,
                "Snapshots": r.snapshots,
                "Transaction logs": r.transaction_logs,
                "Attributes": r.attributes,
                "Total": f"{r.objects} objects, {size(r.bytes)}",
                **({"Failed deletes": r.failed_deletes} if r.failed_deletes else {}),
            },
            title=f"Garbage collection of objects before {output.when(report.gc_before)} UTC{dry}",
        )
    if report.reclaimable_after_expiration is not None:
        output.say(
            f"After expiration, {_reclaimed(report.reclaimable_after_expiration)} more become reclaimable."
        )
    if report.size_bytes is not None:
        output.say(f"Size (reachable chunks): {size(report.size_bytes)}")
    for skipped in report.skipped:
        output.say(f"[dim]Skipped: {escape(skipped)}[/dim]")


@app.command()
def run(
    name: RepoName,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Report what would be expired and reclaimed; delete nothing (writers may)."
        ),
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Queue the run and return at once; follow it with `history`.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the run at most.", min=1)
    ] = 3600,
    json_output: Json = False,
) -> None:
    """Run the repo's maintenance now, outside its window (a real run needs the right to manage the repo).
    Reads and writes keep working meanwhile."""
    client = state.client()
    with output.spinner(f"{'Dry-running' if dry_run else 'Running'} maintenance of {name}..."):
        done = client.run_maintenance(name, dry_run=dry_run, wait=not no_wait, timeout=timeout)
    if want_json(json_output):
        output.print_json(done)
    elif done.state in ("queued", "running"):
        output.say(f"Maintenance run {done.id} of {name} is {done.state}.")
    else:
        output.say(f"Maintenance {_run_summary(done)}")
        print_report(done)
    if done.state == "failed":
        raise typer.Exit(1)


@app.command()
def history(
    name: RepoName,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most this many runs.", min=1)] = 20,
    json_output: Json = False,
) -> None:
    """The repo's maintenance runs, newest first: when, what they expired and reclaimed, their errors."""
    runs = state.client().list_maintenance_runs(name, limit=limit)
    if want_json(json_output):
        output.print_json(runs)
        return
    output.table(
        ["Id", "Requested", "Trigger", "Dry run", "State", "Finished", "Expired", "Reclaimed", "Error"],
        [
            (
                r.id,
                r.requested_at,
                r.trigger,
                "yes" if r.dry_run else "",
                r.state,
                r.finished_at,
                r.report.expired_snapshots if r.report else None,
                _reclaimed(r.report.reclaimed) if r.report else None,
                r.error,
            )
            for r in runs
        ],
        title=f"Maintenance runs of {name}",
    )
