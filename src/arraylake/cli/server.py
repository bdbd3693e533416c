"""``arraylake server ...``: operate an Arraylake service (needs the ``server`` extra)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.output import console, fail, progress_bar, say

app = ArraylakeTyper(
    name="server",
    global_options=False,
    help="Run and administer an Arraylake service (needs the `server` extra: "
    "`pip install 'arraylake-open[server]'`).\n\n"
    "A first service: `arraylake server init --data-dir DIR --org ORG`, then "
    "`arraylake server start --data-dir DIR`. Every setting is also an environment variable "
    "`ARRAYLAKE_SERVER_<NAME>` (e.g. `ARRAYLAKE_SERVER_DATABASE_URL` for PostgreSQL).",
)

DataDir = Annotated[
    Path,
    typer.Option(
        "--data-dir",
        "-d",
        envvar="ARRAYLAKE_SERVER_DATA_DIR",
        help="Where the catalog (SQLite), local buckets and the secret key live.",
    ),
]


def _settings(data_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    # Whatever a server command creates is the service's own state (catalog, keys, local buckets, logs):
    # private to its OS user. Explicit modes cover the files we know of; the umask covers the rest, e.g.
    # the directories Icechunk makes when the service opens a local repo, and any worker processes.
    os.umask(0o077)
    # Options become ARRAYLAKE_SERVER_* variables so that every process (uvicorn workers too) sees them.
    os.environ["ARRAYLAKE_SERVER_DATA_DIR"] = str(data_dir.resolve())
    for key, value in overrides.items():
        if value is not None:
            os.environ[f"ARRAYLAKE_SERVER_{key.upper()}"] = str(value)
    try:
        from arraylake.server.settings import ServerSettings
    except ImportError as exc:
        fail(f"the server extra is not installed ({exc.name} missing): pip install 'arraylake-open[server]'")
    from pydantic import ValidationError

    try:
        return ServerSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"ARRAYLAKE_SERVER_{'_'.join(str(x) for x in e['loc']).upper()}: {e['msg']}"
            if e["loc"]
            else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        fail(f"invalid server setting: {problems}")


@app.command()
def init(
    data_dir: DataDir,
    org: Annotated[str, typer.Option("--org", help="Name of the org to create.")],
    local_bucket: Annotated[
        bool,
        typer.Option(
            "--local-bucket/--no-local-bucket", help="Create a `local` bucket config as the default."
        ),
    ] = True,
    admin_email: Annotated[
        str,
        typer.Option("--admin-email", help="Email shown for the admin API client (e.g. as commit author)."),
    ] = "admin@example.com",
) -> None:
    """Create the catalog (if needed) and an org with an admin API token.

    The token is printed once, as the last line. Run again with another `--org` to add an org.
    """
    settings = _settings(data_dir)
    from arraylake.server.bootstrap import init_org
    from arraylake.server.errors import Conflict

    try:
        result = asyncio.run(init_org(settings, org, local_bucket=local_bucket, admin_email=admin_email))
    except Conflict as exc:
        fail(f"{exc.detail}; its admin token was printed when it was created")
    except ValueError as exc:
        fail(str(exc))
    console.print(f"Catalog: {settings.resolved_database_url.split('@')[-1]}")
    console.print(f"Org [bold]{result.org}[/bold] created with an admin API client ({result.admin_id}).")
    if result.local_bucket_path:
        console.print(f"Default bucket config [bold]local[/bold]: {result.local_bucket_path}")
    console.print("Admin API token (shown once; keep it secret):")
    print(result.token)


@app.command()
def start(
    data_dir: DataDir,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.  [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.  [default: 8321]")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.  [default: 1]")] = None,
) -> None:
    """Serve the Arraylake API until stopped (Ctrl-C).

    Prints what it serves on standard output, then "Ready" once the service answers; the service's log,
    JSON lines, goes to standard error. Refuses to start on a catalog that `arraylake server init` (or
    `migrate`) has not prepared, or on a port in use.
    """
    settings = _settings(data_dir, host=host, port=port, workers=workers)
    from arraylake.server import launch
    from arraylake.server.bootstrap import preflight
    from arraylake.server.db.migrate import CatalogNotReady
    from arraylake.server.identity.signing import SigningKeyMissing
    from arraylake.server.logs import configure_logging
    from arraylake.server.sealing import SecretKeyMissing

    try:
        asyncio.run(preflight(settings))
        sock = launch.listen(settings.host, settings.port)
    except (CatalogNotReady, SecretKeyMissing, SigningKeyMissing, launch.CannotListen) as exc:
        fail(str(exc))

    for line in launch.summary(settings):
        say(escape(line))
    configure_logging(settings.log_level, settings.log_format)
    with sock, launch.metrics_directory(settings):
        ready = launch.serve(settings, sock, lambda: say("Ready. Stop with Ctrl-C."))
    if not ready:
        fail("the service stopped before it was ready; its log above says why", code=launch.STARTUP_FAILURE)


@app.command()
def migrate(data_dir: DataDir) -> None:
    """Bring the catalog schema up to date (after upgrading Arraylake); safe to run again."""
    settings = _settings(data_dir)
    from arraylake.server.bootstrap import migrate as run_migrations

    with progress_bar("Migrating the catalog") as bar:
        applied = asyncio.run(run_migrations(settings, on_pending=bar.start, on_step=bar.advance))
    if applied:
        console.print(f"Applied {len(applied)} migration(s); the catalog schema is at {applied[-1]}.")
    else:
        console.print("The catalog schema was already up to date.")


@app.command("audit-verify")
def audit_verify(data_dir: DataDir) -> None:
    """Verify the audit log straight from the catalog, with the service's signing key (works while the
    service is down); exits 1 and names the first broken entry when the chain does not hold."""
    settings = _settings(data_dir)
    from arraylake.server.audit.verify import verify_catalog
    from arraylake.server.identity.signing import SigningKeyMissing

    if not settings.database_url and not (settings.data_dir / "catalog.db").exists():
        fail(f"no catalog in {data_dir}: is it the data directory of a service?")
    try:
        result = asyncio.run(verify_catalog(settings))
    except SigningKeyMissing as exc:
        fail(str(exc))
    if not result.ok:
        fail(f"the audit log is broken at entry {result.broken_seq}: {result.problem}")
    span = f" ({result.first_seq} to {result.last_seq})" if result.entries else ""
    say(
        f"[green]OK[/green]: {result.entries} audit entries{span} and {result.checkpoints} signed "
        "checkpoint(s) verified."
    )


user_app = ArraylakeTyper(global_options=False, help="Manage the service's user accounts.")
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            fail("no password on standard input")
        return password
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("create")
def user_create(
    data_dir: DataDir,
    email: Annotated[str, typer.Option("--email", help="The email the user signs in with.")],
    first_name: Annotated[str | None, typer.Option("--first-name")] = None,
    family_name: Annotated[str | None, typer.Option("--family-name")] = None,
    org: Annotated[str | None, typer.Option("--org", help="Also make the user a member of this org.")] = None,
    role: Annotated[
        str, typer.Option("--role", help="Their role in --org: admin, repo_writer, repo_reader, member.")
    ] = "admin",
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from standard input instead of asking."),
    ] = False,
) -> None:
    """Create a user account that signs in with a password (asked for, or read from stdin)."""
    settings = _settings(data_dir)
    from arraylake.server.bootstrap import create_user_account
    from arraylake.server.errors import ServiceError
    from arraylake.types import OrgRole

    try:
        org_role = OrgRole(role)
    except ValueError:
        fail(f"unknown role {role!r}; use one of: {', '.join(r.value for r in OrgRole)}")
    password = _read_password(password_stdin)
    try:
        user_id = asyncio.run(
            create_user_account(
                settings,
                email=email,
                password=password,
                first_name=first_name,
                family_name=family_name,
                org=org,
                role=org_role,
            )
        )
    except ServiceError as exc:
        fail(str(exc.detail))
    console.print(f"User {email} created ({user_id}).")
    if org:
        console.print(f"Member of org {org} as {org_role.value}.")
