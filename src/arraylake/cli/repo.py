"""``arraylake repo ...``: the catalog side of repos (list, create, modify, delete, restore, info) and who
may use them.

What is inside a repo (tree, history, branches, tags) is in :mod:`arraylake.cli.repo_contents`, migrating
a V1 repo to Icechunk in :mod:`arraylake.cli.repo_migrate`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from arraylake.cli import output, repo_contents, repo_doctor, repo_maintenance, repo_migrate, state
from arraylake.cli.bucket import reader_access
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, Principal, RepoName, Yes, want_json
from arraylake.types import RepoActions, RepoGrant, RepoKind, RepoModel

app = ArraylakeTyper(
    name="repo",
    help="Repos: list, create and delete them, look inside, grant access, and migrate V1 repos to Icechunk."
    "\n\nRepos are named `ORG/REPO`.",
)
app.add_typer(repo_contents.app)
app.add_typer(repo_doctor.app)
app.add_typer(repo_migrate.app)
app.add_typer(repo_maintenance.app, name="maintenance")


def _pairs(items: list[str] | None, option: str) -> dict[str, Any] | None:
    return dict(state.parse_pair(item, option) for item in items) if items else None


def _metadata(items: list[str] | None, option: str) -> dict[str, Any] | None:
    """``KEY=VALUE`` pairs, or JSON objects (as the hosted CLI takes them), merged."""
    if not items:
        return None
    merged: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            try:
                found = json.loads(item)
            except json.JSONDecodeError as exc:
                raise typer.BadParameter(f"invalid JSON {item!r}: {exc}", param_hint=f"'{option}'") from exc
            merged.update(found)
        else:
            key, value = state.parse_pair(item, option)
            merged[key] = value
    return merged


def _default_org(org: str | None) -> str:
    """The org named, else config ``user.org``, else your only org."""
    if org:
        return org
    configured = state.config().get("user.org", None)
    if configured:
        return str(configured)
    orgs = state.client().list_orgs()
    if len(orgs) == 1:
        return orgs[0].name
    known = ", ".join(o.name for o in orgs) or "none"
    raise typer.BadParameter(
        f"name an org (yours: {known}), or set a default with `arraylake config set user.org ORG`",
        param_hint="'ORG'",
    )


@app.command("list")
def list_repos(
    org: Annotated[
        str | None,
        typer.Argument(
            metavar="[ORG]", help="Default: config user.org, or your only org.", show_default=False
        ),
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            "-f",
            metavar="KEY=VALUE",
            help="Only repos whose metadata has this value (repeatable: all must match).",
        ),
    ] = None,
    deleted: Annotated[
        bool,
        typer.Option(
            "--deleted",
            help="Only the deleted repos that can still be restored: when, by whom, and until when.",
        ),
    ] = False,
    json_output: Json = False,
) -> None:
    """The org's repos, by name."""
    org = _default_org(org)
    repos = state.client().list_repos(
        org, filter_metadata=_pairs(filters, "--filter"), include_deleted=deleted
    )
    if deleted:
        repos = [r for r in repos if r.deleted_at is not None]
    if want_json(json_output):
        output.print_json(repos)
        return
    if deleted:
        output.table(
            ["Name", "Deleted (UTC)", "Deleted by", "Restorable until (UTC)", "Description"],
            [
                (r.name, r.deleted_at, r.deleted_by_email or r.deleted_by, r.restorable_until, r.description)
                for r in repos
            ],
            title=f"Deleted repos of {org} (`arraylake repo restore {org}/NAME` brings one back)",
        )
        return
    output.table(
        ["Name", "Created", "Updated", "Description", "Metadata", "Status"],
        [(r.name, r.created, r.updated, r.description, r.metadata, r.status.mode) for r in repos],
        title=f"Repos of {org}",
    )


@app.command()
def create(
    name: RepoName,
    bucket: Annotated[
        str | None,
        typer.Option(
            "--bucket-config-nickname",
            "--bucket",
            "-b",
            help="Bucket to keep it in; default: the org's default.",
        ),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option("--prefix", help="Key prefix in the bucket; default: a unique one.")
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="A short description.")
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option(
            "--metadata",
            "-m",
            metavar="KEY=VALUE",
            help="Searchable metadata (repeatable); VALUE is read as YAML (`10`, `true`, `era5`).",
        ),
    ] = None,
    kind: Annotated[
        RepoKind,
        typer.Option(
            "--kind",
            help="`icechunk`, or `v1` for a legacy V1 repo (no --prefix; `repo migrate` copies it into "
            "a new Icechunk repo).",
            case_sensitive=False,
        ),
    ] = RepoKind.Icechunk,
    json_output: Json = False,
) -> None:
    """Create an empty repo (with a `main` branch): Icechunk, unless `--kind v1`."""
    if kind == RepoKind.V1 and prefix is not None:
        raise typer.BadParameter(
            "V1 repos take no prefix: their chunks live under the repo's id", param_hint="'--prefix'"
        )
    client = state.client()
    with output.spinner(f"Creating {name}..."):
        client.create_repo(
            name,
            kind=kind,
            checkout=False,
            bucket_config_nickname=bucket,
            prefix=prefix,
            description=description,
            metadata=_pairs(metadata, "--metadata"),
        )
    created = client.get_repo_object(name)
    if want_json(json_output):
        output.print_json(created)
        return
    where = created.bucket.nickname if created.bucket else "?"
    output.say(f"Created repo [bold]{created.full_name}[/bold] in bucket {where} (prefix {created.prefix}).")


@app.command()
def modify(
    name: RepoName,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help='The new description ("" clears it).')
    ] = None,
    add: Annotated[
        list[str] | None,
        typer.Option(
            "--add-metadata",
            "-a",
            metavar="KEY=VALUE",
            help="Add a key that does not exist yet (repeatable; or a JSON object).",
        ),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove-metadata", "-r", metavar="KEY", help="Remove a key (repeatable)."),
    ] = None,
    update: Annotated[
        list[str] | None,
        typer.Option(
            "--update-metadata",
            "-u",
            metavar="KEY=VALUE",
            help="Set a key, whether it exists or not (repeatable; or a JSON object).",
        ),
    ] = None,
    json_output: Json = False,
) -> None:
    """Change a repo's description or metadata; VALUE is read as YAML (`10`, `true`, `era5`)."""
    if description is None and not (add or remove or update):
        raise typer.BadParameter(
            "give --description, --add-metadata, --remove-metadata or --update-metadata",
            param_hint="'ORG/REPO'",
        )
    changed = state.client().modify_repo(
        name,
        description=description,
        add_metadata=_metadata(add, "--add-metadata"),
        remove_metadata=remove,
        update_metadata=_metadata(update, "--update-metadata"),
    )
    if want_json(json_output):
        output.print_json(changed)
        return
    output.details(
        {"Name": changed.full_name, "Description": changed.description, "Metadata": changed.metadata}
    )


@app.command()
def delete(
    name: RepoName,
    yes: Yes = False,
    retain_data: Annotated[
        bool,
        typer.Option("--retain-data", help="Keep the data in the bucket; remove only the catalog entry."),
    ] = False,
    soft: Annotated[
        bool,
        typer.Option(
            "--soft/--immediate",
            help="--soft keeps it restorable for the service's grace period (`repo restore`); "
            "--immediate (the default) removes it now.",
        ),
    ] = False,
) -> None:
    """Delete a repo and all its data (asks first, unless `--yes`)."""
    client = state.client()
    repo = client.get_repo_object(name)  # fails clearly before asking, if there is no such repo
    what = "from the catalog (its data stays in the bucket)" if retain_data else "and all its data"
    if soft:
        what += " after a grace period (restorable until then)"
    if not yes:
        typer.confirm(f"Delete repo {repo.full_name} {what}?", abort=True, err=True)
    if soft:
        client.delete_repo(name, imsure=True, imreallysure=True, immediate=False, retain_data=retain_data)
        output.say(
            f"Deleted repo [bold]{repo.full_name}[/bold]; `arraylake repo restore {repo.full_name}` "
            f"brings it back until its grace period ends (`arraylake repo list {repo.org} --deleted`)."
        )
        return
    with output.count_bar(f"Deleting {repo.full_name}", "objects removed") as progress:
        client.delete_repo(
            name, imsure=True, imreallysure=True, retain_data=retain_data, on_progress=progress
        )
    output.say(f"Deleted repo [bold]{repo.full_name}[/bold].")


@app.command()
def restore(name: RepoName, json_output: Json = False) -> None:
    """Bring back a repo deleted with `--soft`, with its data, before its grace period ends."""
    restored = state.client().restore_repo(name)
    if want_json(json_output):
        output.print_json(restored)
        return
    output.say(f"Restored repo [bold]{restored.full_name}[/bold].")


def _info(repo: RepoModel) -> dict[str, Any]:
    bucket = repo.bucket
    status = repo.status.mode.value + (f" ({repo.status.message})" if repo.status.message else "")
    return {
        "Name": repo.full_name,
        "Id": repo.id,
        "Kind": repo.kind,
        "Description": repo.description,
        "Metadata": repo.metadata,
        "Bucket": f"{bucket.nickname} ({bucket.platform.value})" if bucket else None,
        "Prefix": repo.prefix,
        "Readers get": reader_access(bucket),
        "Status": status,
        "Visibility": repo.visibility,
        "Created": f"{output.when(repo.created)} UTC",
        "Updated": f"{output.when(repo.updated)} UTC",
    }


@app.command()
def info(name: RepoName, json_output: Json = False) -> None:
    """A repo's catalog entry: bucket, prefix, status, metadata."""
    repo = state.client().get_repo_object(name)
    if want_json(json_output):
        output.print_json(repo)
        return
    output.details(_info(repo))


def _show_grants(name: str, grants: list[RepoGrant], as_json: bool) -> None:
    if as_json:
        output.print_json(grants)
        return
    output.table(
        ["Email", "Kind", "Actions", "Id"],
        [(g.email, g.kind, " ".join(a.value for a in g.actions), g.principal_id) for g in grants],
        title=f"Grants on {name}",
    )


Actions = Annotated[
    list[RepoActions],
    typer.Argument(
        metavar="ACTION...", help="CAN_READ, CAN_WRITE, CAN_MANAGE_USERS, ...", case_sensitive=False
    ),
]


@app.command()
def grants(name: RepoName, json_output: Json = False) -> None:
    """Who holds which actions on a repo, beyond their org roles."""
    _show_grants(name, state.client().list_repo_grants(name), want_json(json_output))


@app.command()
def grant(name: RepoName, principal: Principal, actions: Actions, json_output: Json = False) -> None:
    """Grant actions on one repo to a user or an API client (e.g. `CAN_READ CAN_WRITE`).

    CAN_READ is read-only only where the bucket can narrow credentials: in `local` buckets and HMAC
    buckets (unless writers_only) a reader receives the directory or the keys, and can write too.
    """
    client = state.client()
    _show_grants(name, client.grant_repo_access(name, principal, list(actions)), want_json(json_output))
    if RepoActions.CAN_WRITE not in actions:
        access = reader_access(client.get_repo_object(name).bucket)
        if "write" in access and "writers only" not in access:
            output.warn(f"{principal} may only read {name}, but receives {access}.")


@app.command()
def revoke(
    name: RepoName,
    principal: Principal,
    actions: Annotated[
        list[RepoActions] | None,
        typer.Argument(metavar="[ACTION...]", help="Default: all of them.", case_sensitive=False),
    ] = None,
    json_output: Json = False,
) -> None:
    """Take back granted actions on a repo (all of them when none are named)."""
    remaining = state.client().revoke_repo_access(name, principal, list(actions) if actions else None)
    _show_grants(name, remaining, want_json(json_output))
