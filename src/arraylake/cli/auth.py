"""``arraylake auth ...``: log in and out, see who you are, print your token."""

from __future__ import annotations

import base64
import json
import webbrowser
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, want_json
from arraylake.cli.system_report import get_service_info
from arraylake.client.token_file import read_tokens, token_path
from arraylake.config import source_of
from arraylake.types import ApiTokenInfo, DeviceAuthorizationResponse, UserInfo

if TYPE_CHECKING:
    from arraylake.client import Client

app = ArraylakeTyper(
    name="auth",
    help="Log in to a service, see who you are, print your token.\n\n"
    "A login is saved per service in `~/.arraylake/tokens/` and renewed automatically. "
    "An API token (`ARRAYLAKE_TOKEN` or config `token`) takes precedence over a login.",
)


def _login_client() -> Client:
    """A client that uses the saved login, even when an API token is configured."""
    state.override({"token": None})
    return state.client()


def token_source() -> str:
    """Where the API token in effect comes from, in the words a user can act on."""
    if state.state.overrides.get("token"):
        return "argument --config token=..."
    return source_of("token")


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of a JWT, read without checking the signature (the service checks it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


@app.command()
def login(
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Also open the approval page in a web browser.")
    ] = False,
) -> None:
    """Log in as a user: approve a one-time code in your browser.

    Prints a URL and a code; open the URL, sign in, check the code and approve. The login is saved
    for later commands and for `arraylake.Client()`.
    """
    configured_token = state.config().get("token", None)
    source = token_source()
    client = _login_client()
    with ExitStack() as waiting:

        def on_code(authorization: DeviceAuthorizationResponse) -> None:
            url = authorization.verification_uri_complete
            output.say(f"To log in, open [link={url}]{url}[/link]")
            output.say(f"and check that it shows the code [bold]{authorization.user_code}[/bold]")
            if browser:
                webbrowser.open(url)
            waiting.enter_context(output.spinner("Waiting for the login to be approved..."))

        client.login(on_code=on_code)
    user = client.get_user()
    output.say(f"Logged in to {client.service_uri} as [bold]{user.email}[/bold]")
    if configured_token:
        output.warn(
            f"an API token is configured ({source}): commands use it, not this login, until you remove it"
            f"{' (`arraylake config unset token`)' if source.startswith('config file') else ''}"
        )


@app.command()
def logout() -> None:
    """End the saved login: revoked on the service and removed from this machine."""
    _login_client().logout()


def _status(client: Client, configured_token: str | None) -> dict[str, Any]:
    me = client.get_user()
    status: dict[str, Any] = {"service": get_service_info(client.service_uri)}
    if isinstance(me, UserInfo):
        name = " ".join(p for p in (me.first_name, me.family_name) if p)
        status["principal"] = {"kind": "user", "id": me.id, "email": me.email, "name": name or None}
    else:
        status["principal"] = {"kind": "api_client", "id": me.client_id, "email": me.email}
    if configured_token:
        status["credentials"] = f"API token ({token_source()})"
        if isinstance(me, ApiTokenInfo):
            status["expires"] = datetime.fromtimestamp(me.expiration, UTC) if me.expiration else None
        else:
            status["expires"] = _jwt_expiry(configured_token)
    else:
        path = token_path(client.service_uri)
        tokens = read_tokens(path)
        status["credentials"] = f"login saved in {path}"
        status["expires"] = _jwt_expiry(tokens.id_token) if tokens else None
    return status


@app.command()
def status(json_output: Json = False) -> None:
    """Who you are on which service, with which credentials, and when they expire.

    Exits with 1 when not logged in (or the login has ended).
    """
    configured_token = state.config().get("token", None)
    found = _status(state.client(), configured_token)
    if want_json(json_output):
        output.print_json(found)
        return
    service = found["service"]
    version = f" (version {service['version']})" if service.get("version") else ""
    who = found["principal"]
    kind = "user" if who["kind"] == "user" else "API client"
    expires = found["expires"]
    if expires is None:
        expiry = "never" if configured_token else "unknown"
    else:
        expiry = f"{output.when(expires)} UTC"
        if expires < datetime.now(UTC):
            expiry += " (expired; renewed on the next request)" if not configured_token else " (expired)"
        elif not configured_token:
            expiry += " (renewed automatically)"
    output.details(
        {
            "Service": f"{service['uri']}{version}",
            "Logged in as": f"{who['email']} ({kind}{', ' + who['name'] if who.get('name') else ''})",
            "Credentials": found["credentials"],
            "Expires": expiry,
        }
    )


@app.command()
def token() -> None:
    """Print the token commands send: the configured API token, or the login's current id token."""
    configured_token = state.config().get("token", None)
    client = state.client()
    client.get_user()  # renews an expired login first; fails clearly when there is none
    if configured_token:
        typer.echo(configured_token)
        return
    tokens = read_tokens(token_path(client.service_uri))
    if tokens is None:
        output.fail("not logged in: run `arraylake auth login`")
    typer.echo(tokens.id_token)
