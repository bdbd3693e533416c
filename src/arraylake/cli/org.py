"""``arraylake org ...``: orgs, their members and roles, and their API clients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import typer

from arraylake.cli import output, state
from arraylake.cli import repo_maintenance as maintenance
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, Org, Principal, Yes, want_json
from arraylake.types import OrgMember, OrgRole

if TYPE_CHECKING:
    from arraylake.types import ApiClientInfo, ApiTokenSummary
    from arraylake.types.maintenance import OptimizationConfig

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
token_app = ArraylakeTyper(
    name="token",
    help="Tokens of an API client: create a new one, then revoke the old one, to rotate without downtime.",
)
app.add_typer(api_client_app, name="api-client")
api_client_app.add_typer(token_app, name="token")

ApiClient = Annotated[
    str, typer.Argument(metavar="CLIENT", help="Name or id of the API client.", show_default=False)
]
ExpiresInDays = Annotated[
    float | None, typer.Option("--expires-in-days", help="Token lifetime; default: no expiry.", min=0.001)
]
RoleArgument = Annotated[
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
def set_role(org: Org, principal: Principal, role: RoleArgument, json_output: Json = False) -> None:
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
    expires_in_days: ExpiresInDays = None,
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
    rows: list[tuple[object, ...]] = []
    for c in found:
        active = [t for t in c.tokens if t.revoked_at is None]
        hints = ", ".join(f"{t.hint}..." for t in active)
        status = f"disabled {output.when(c.disabled_at)}" if c.disabled_at else "active"
        rows.append((c.id, c.name, c.role, c.created, hints, status))
    output.table(["Id", "Name", "Role", "Created", "Tokens", "Status"], rows, title=f"API clients of {org}")


def _is_id(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def find_api_client(org: str, client: str) -> ApiClientInfo:
    """The org's API client with this id, or else with this name (an enabled one, if several have it)."""
    found = state.client().list_api_clients(org)
    by_id = [c for c in found if str(c.id) == client]
    if by_id:
        return by_id[0]
    named = [c for c in found if c.name == client]
    if len(named) > 1:
        named = [c for c in named if c.disabled_at is None] or named
    if not named:
        output.fail(
            f"{org} has no API client named or with id {client!r} (see `arraylake org api-client list {org}`)"
        )
    if len(named) > 1:
        ids = ", ".join(f"{c.id} (created {output.when(c.created)})" for c in named)
        output.fail(f"{len(named)} API clients of {org} are named {client!r}: use one of their ids: {ids}")
    return named[0]


def _client_id(org: str, client: str) -> str:
    """An API client's id, without asking the service when it is one already."""
    return client if _is_id(client) else str(find_api_client(org, client).id)


@api_client_app.command("revoke")
def revoke_api_client(org: Org, client: ApiClient, yes: Yes = False) -> None:
    """Disable an API client (by name or id) and revoke all its tokens."""
    client_id = _client_id(org, client)
    shown = client if client == client_id else f"{client} ({client_id})"
    if not yes:
        typer.confirm(f"Disable API client {shown} of {org} and revoke its tokens?", abort=True, err=True)
    state.client().revoke_api_client(org, client_id)
    output.say(f"Revoked API client {shown}.")


@token_app.command("create")
def create_token(
    org: Org,
    client: ApiClient,
    expires_in_days: ExpiresInDays = None,
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. `2025-q3`.")] = "",
    json_output: Json = False,
) -> None:
    """Create another token for an API client (by name or id).

    The token is shown only now, as the last line (or as `token` in the JSON): keep it secret.
    """
    client_id = _client_id(org, client)
    created = state.client().create_api_token(org, client_id, name=name, expires_in_days=expires_in_days)
    secret = created.token.get_secret_value()
    if want_json(json_output):
        output.print_json({**output.jsonable(created), "name": name, "token": secret})
        return
    output.say(f"Created token {created.id} for API client {client}.")
    if created.expires_at:
        output.say(f"It expires {output.when(created.expires_at)} UTC.")
    output.say("API token (shown once; keep it secret):")
    typer.echo(secret)


def _token_rows(tokens: list[ApiTokenSummary]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for t in tokens:
        status = f"revoked {output.when(t.revoked_at)}" if t.revoked_at else "active"
        rows.append((t.id, t.name, f"{t.hint}...", t.created, t.expires_at, t.last_used_at, status))
    return rows


@token_app.command("list")
def list_tokens(org: Org, client: ApiClient, json_output: Json = False) -> None:
    """An API client's tokens: ids, names, hints and dates (never the tokens themselves)."""
    found = find_api_client(org, client)
    if want_json(json_output):
        output.print_json(found.tokens)
        return
    output.table(
        ["Id", "Name", "Hint", "Created", "Expires", "Last used", "Status"],
        _token_rows(found.tokens),
        title=f"Tokens of API client {found.name} ({found.id})",
    )


@token_app.command("revoke")
def revoke_token(
    org: Org,
    client: ApiClient,
    token_id: Annotated[
        str,
        typer.Argument(metavar="TOKEN_ID", help="Id of the token (`arraylake org api-client token list`)."),
    ],
) -> None:
    """Revoke one token of an API client (by name or id); its other tokens keep working."""
    state.client().revoke_api_token(org, _client_id(org, client), token_id)
    output.say(f"Revoked token {token_id} of API client {client}.")


def _print_org_policy(org: str, policy: OptimizationConfig) -> None:
    output.details(
        maintenance.describe_policy(policy, "service default"), title=f"Maintenance defaults of {org}"
    )


@app.command("maintenance")
def show_maintenance(org: Org, json_output: Json = False) -> None:
    """The org's default maintenance policy: what its repos use for the parts they do not set."""
    found = state.client().get_org_maintenance(org)
    if want_json(json_output):
        output.print_json(found)
        return
    _print_org_policy(org, found)


@app.command("set-maintenance")
def set_maintenance(
    org: Org,
    window: maintenance.Window = None,
    expire_older_than: maintenance.ExpireOlderThan = None,
    expiration: maintenance.Expiration = None,
    gc: maintenance.Gc = None,
    gc_margin: maintenance.GcMargin = None,
    keep: maintenance.Keep = None,
    inherit: maintenance.Inherit = None,
    reset: maintenance.Reset = False,
    json_output: Json = False,
) -> None:
    """Change the org's default maintenance policy (its admins may); options not given keep their value,
    and `--inherit PART` or `--reset` falls back to the service's defaults (its window; expiration and GC
    off). A repo's own policy (`arraylake repo maintenance set`) wins over it, part by part.
    """
    changes = maintenance.policy_changes(
        window=window,
        expire_older_than=expire_older_than,
        expiration=expiration,
        gc=gc,
        gc_margin=gc_margin,
        keep=keep,
        inherit=inherit,
        reset=reset,
    )
    found = state.client().set_org_maintenance(org, **changes)
    if want_json(json_output):
        output.print_json(found)
        return
    _print_org_policy(org, found)
