"""``arraylake org ...``: orgs, their members and roles, and their API clients."""

from __future__ import annotations

from typing import Annotated

import typer

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, Org, Principal, Yes, want_json
from arraylake.types import OrgMember, OrgRole

app = ArraylakeTyper(
    name="org",
    help="Orgs, their members and roles, and their API clients.\n\n"
    "Roles: `admin` (everything), `repo_writer` (create, read and write every repo), "
    "`repo_reader` (read every repo), `member` (only repos granted to them).\n\n"
    "Reading is read-only where the bucket's credentials can be narrowed (STS, GCS and Azure delegation): "
    "in `local` buckets and HMAC buckets (unless `writers_only`) readers can write too.",
)
api_client_app = ArraylakeTyper(
    name="api-client", help="API clients (service accounts) of an org, and their `ema_...` tokens."
)
app.add_typer(api_client_app, name="api-client")

Role = Annotated[
    OrgRole,
    typer.Argument(metavar="ROLE", help="admin, repo_writer, repo_reader or member.", case_sensitive=False),
]


@app.command("list")
def list_orgs(json_output: Json = False) -> None:
    """The orgs you are a member of."""
    orgs = state.client().list_orgs()
    if want_json(json_output):
        output.print_json(orgs)
        return
    output.table(
        ["Name", "Display name", "Description", "Created"],
        [(o.name, o.display_name, o.description, o.created) for o in orgs],
        title="Orgs",
    )


@app.command()
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Name of the new org.")],
    display_name: Annotated[str | None, typer.Option("--display-name", help="A name for people.")] = None,
    description: Annotated[str | None, typer.Option("--description", help="What the org is for.")] = None,
    json_output: Json = False,
) -> None:
    """Create an org; you become its admin (users only, not API clients)."""
    created = state.client().create_org(name, display_name=display_name, description=description)
    if want_json(json_output):
        output.print_json(created)
        return
    output.say(f"Created org [bold]{created.name}[/bold]; you are its admin.")


def _member_rows(members: list[OrgMember]) -> list[tuple[object, ...]]:
    return [(m.email, m.name, m.kind, m.role, m.principal_id) for m in members]


@app.command()
def members(org: Org, json_output: Json = False) -> None:
    """The org's members (users and API clients) and their roles."""
    found = state.client().list_org_members(org)
    if want_json(json_output):
        output.print_json(found)
        return
    output.table(["Email", "Name", "Kind", "Role", "Id"], _member_rows(found), title=f"Members of {org}")


@app.command("add-member")
def add_member(
    org: Org,
    principal: Principal,
    role: Annotated[
        OrgRole, typer.Option("--role", "-r", help="Their role in the org.", case_sensitive=False)
    ] = OrgRole.MEMBER,
    json_output: Json = False,
) -> None:
    """Add a user (by email or id) or one of the org's API clients (by id) to the org."""
    added = state.client().add_org_member(org, principal, role=role)
    if want_json(json_output):
        output.print_json(added)
        return
    output.say(f"Added {added.email} to {org} as {added.role.value}.")


@app.command("remove-member")
def remove_member(org: Org, principal: Principal) -> None:
    """Remove a member from the org (an org always keeps at least one admin)."""
    state.client().remove_org_member(org, principal)
    output.say(f"Removed {principal} from {org}.")


@app.command("set-role")
def set_role(org: Org, principal: Principal, role: Role, json_output: Json = False) -> None:
    """Change a member's role (an org always keeps at least one admin)."""
    changed = state.client().set_org_member_role(org, principal, role)
    if want_json(json_output):
        output.print_json(changed)
        return
    output.say(f"{changed.email} is now {changed.role.value} in {org}.")


@api_client_app.command("create")
def create_api_client(
    org: Org,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="What the client is for, e.g. `nightly-ingest`.")
    ],
    role: Annotated[
        OrgRole, typer.Option("--role", "-r", help="Its role in the org.", case_sensitive=False)
    ] = OrgRole.REPO_READER,
    expires_in_days: Annotated[
        float | None, typer.Option("--expires-in-days", help="Token lifetime; default: no expiry.", min=0.001)
    ] = None,
    json_output: Json = False,
) -> None:
    """Create an API client with a role, and its first token.

    The token is shown only now, as the last line (or as `token` in the JSON): keep it secret.
    """
    created = state.client().create_api_client(org, name, role=role, expires_in_days=expires_in_days)
    secret = created.token.token.get_secret_value()
    if want_json(json_output):
        output.print_json(
            {"client": created.client, "token": {**output.jsonable(created.token), "token": secret}}
        )
        return
    output.say(
        f"Created API client [bold]{created.client.name}[/bold] ({created.client.id}) as {role.value}."
    )
    if created.token.expires_at:
        output.say(f"Its token expires {output.when(created.token.expires_at)} UTC.")
    output.say("API token (shown once; keep it secret):")
    typer.echo(secret)


@api_client_app.command("list")
def list_api_clients(org: Org, json_output: Json = False) -> None:
    """The org's API clients and their tokens (never the tokens themselves)."""
    found = state.client().list_api_clients(org)
    if want_json(json_output):
        output.print_json(found)
        return
    rows = []
    for c in found:
        active = [t for t in c.tokens if t.revoked_at is None]
        hints = ", ".join(f"{t.hint}..." for t in active)
        status = f"disabled {output.when(c.disabled_at)}" if c.disabled_at else "active"
        rows.append((c.id, c.name, c.role, c.created, hints, status))
    output.table(["Id", "Name", "Role", "Created", "Tokens", "Status"], rows, title=f"API clients of {org}")


@api_client_app.command("revoke")
def revoke_api_client(
    org: Org,
    client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID", help="Id of the API client.")],
    yes: Yes = False,
) -> None:
    """Disable an API client and revoke all its tokens."""
    if not yes:
        typer.confirm(f"Disable API client {client_id} of {org} and revoke its tokens?", abort=True, err=True)
    state.client().revoke_api_client(org, client_id)
    output.say(f"Revoked API client {client_id}.")
