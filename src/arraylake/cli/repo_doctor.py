"""``arraylake repo doctor``: which compute protocols a dataset in a repo can serve, and (``--fix``) a commit
that adds the CF attributes it lacks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from arraylake._lazy import lazy_module
from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, RepoName, want_json
from arraylake.cli.repo_contents import ref_of
from arraylake.client import doctor
from arraylake.types.compute import ServiceType

if TYPE_CHECKING:
    import icechunk
else:
    icechunk = lazy_module("icechunk")

app = ArraylakeTyper()

_PROTOCOL_NAMES = {
    ServiceType.EDR: "EDR",
    ServiceType.WMS: "WMS",
    ServiceType.TILES: "Tiles",
    ServiceType.DAP2: "DAP2",
    ServiceType.ZARR: "Zarr",
}


def _status(check: doctor.ProtocolCheck) -> str:
    if check.compatible:
        return "compatible"
    return "fixable (--fix)" if check.compatible_after_fix else "incompatible"


def _show(diagnosis: doctor.Diagnosis, title: str) -> None:
    output.table(
        ["Protocol", "Status", "Why not"],
        [(_PROTOCOL_NAMES[c.protocol], _status(c), "; ".join(c.reasons)) for c in diagnosis.protocols],
        title=title,
    )


def _show_fixes(fixes: list[doctor.AttributeFix], title: str) -> None:
    output.table(
        ["Variable", "Attributes", "Guessed from"],
        [
            (f.variable, ", ".join(f"{key}: {value}" for key, value in f.attributes.items()), f.reason)
            for f in fixes
        ],
        title=title,
    )


def _diagnose(store: Any, label: str, group: str | None) -> doctor.Diagnosis:
    try:
        return doctor.diagnose(doctor.open_dataset(store, group))
    except (FileNotFoundError, doctor.NotADatasetError) as exc:
        output.fail(f"{label}: {exc}")
    except ImportError as exc:  # xarray is an extra
        output.fail(str(exc))


@app.command("doctor")
def run_doctor(
    name: RepoName,
    ref: Annotated[
        str, typer.Option("--ref", "-r", help="Branch, tag or snapshot id (`--fix`: a branch).")
    ] = "main",
    group: Annotated[
        str | None,
        typer.Option("--group", "-g", help="Path of the group that holds the dataset; default: the root."),
    ] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Commit the missing attributes on the branch (metadata only: no data is rewritten)."
        ),
    ] = False,
    json_output: Json = False,
) -> None:
    """Which compute protocols (EDR, WMS, Tiles, DAP2, Zarr) can serve a dataset, and why not.

    EDR needs X and Y axes, WMS latitude and longitude, Tiles either of those or a grid mapping; EDR, WMS
    and Tiles need a time coordinate to be datetime64. Where a coordinate lacks its CF attributes, its name,
    values and units suggest them (`lat` gets `axis: Y`, `standard_name: latitude`, `units: degrees_north`);
    `--fix` adds them, never changing an attribute that is set, and commits.
    """
    group = (group.strip("/") or None) if group else None
    client = state.client()
    repo = client.get_repo(name, read_only=not fix)
    if not isinstance(repo, icechunk.Repository):
        output.fail(
            f"{name} is a V1 repo: the doctor reads Icechunk repos (`arraylake repo migrate` copies it)"
        )
    where = ref_of(repo, name, ref)
    if fix and "branch" not in where:
        kind = "a tag" if "tag" in where else "a snapshot"
        output.fail(f"--fix commits on a branch, and {ref!r} is {kind}: give --ref BRANCH")
    session = repo.writable_session(ref) if fix else repo.readonly_session(**where)
    label = f"{name} @ {ref}" + (f", group {group!r}" if group else "")
    base = session.snapshot_id  # a commit moves the session on
    diagnosis = _diagnose(session.store, label, group)

    report: dict[str, Any] = {
        "repo": name,
        "ref": ref,
        "group": group or "/",
        "snapshot_id": base,
        **diagnosis.model_dump(mode="json"),
        "fix": None,
    }
    after: doctor.Diagnosis | None = None
    if fix and diagnosis.fixes:
        snapshot = doctor.apply_fixes(session, diagnosis.fixes, group)
        after = _diagnose(repo.readonly_session(snapshot_id=snapshot).store, label, group)
        report["fix"] = {
            "snapshot_id": snapshot,
            "message": doctor.fix_message(diagnosis.fixes, group),
            "protocols": after.model_dump(mode="json")["protocols"],
        }
    if want_json(json_output):
        output.print_json(report)
        return

    _show(diagnosis, f"{label} (snapshot {base})")
    for note in diagnosis.notes:
        output.warn(note)
    if not diagnosis.fixes:
        if fix:
            output.say("Nothing to fix: no missing attribute can be guessed.")
        return
    if after is None:
        _show_fixes(diagnosis.fixes, "Missing CF attributes")
        branch = ref if "branch" in where else "BRANCH"
        again = f"arraylake repo doctor {name} --ref {branch}" + (f" --group {group}" if group else "")
        output.say(f"`{escape(again)} --fix` commits them.")
        return
    _show_fixes(diagnosis.fixes, "Added CF attributes")
    output.say(f"Committed snapshot [bold]{report['fix']['snapshot_id']}[/bold] on {escape(ref)}.")
    _show(after, f"{label} after the fix")
