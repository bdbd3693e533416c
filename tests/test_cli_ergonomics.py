"""The first hour of a new user: a wrong or absent service, empty repos, where a token comes from, token
rotation, and how fast the command starts.

The service is the real one; the few stand-ins (a closed port, a web server that is not Arraylake, a server
that answers 503 once) are what a user can point the client at by mistake or meet on the way.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import xarray as xr

from arraylake import Client
from arraylake.cli.core import load_group
from arraylake.cli.main import GROUPS
from arraylake.client.transport import Retry, retry_notices
from arraylake.exceptions import ArraylakeConnectionError, NotArraylakeServiceError
from tests.support.cli import Cli
from tests.support.processes import free_port
from tests.support.service import ArraylakeService, Org

pytestmark = pytest.mark.usefixtures("home")
TOKEN = "ema_" + "x" * 43
ON_SQLITE = pytest.mark.parametrize("service", ["sqlite"], indirect=True)


@contextmanager
def stand_in(*answers: tuple[int, str, bytes]) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that gives ``answers`` (status, content type, body) in turn, the last one
    again and again; yields its URL and the paths it was asked for."""
    remaining, seen = list(answers), []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            status, content_type, body = remaining.pop(0) if len(remaining) > 1 else remaining[0]
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.send_header("retry-after", "0")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


# ------------------------------------------------------------------------------------ where the service is


def test_connection_refused_fails_at_once_with_the_url_and_a_hint() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    error = Cli(url, TOKEN)("repo", "list", "some-org", code=1).error  # one line: no retry notices
    assert error.startswith(f"Error: could not reach the Arraylake service at {url} (ConnectError")
    assert "`arraylake server start`" in error and "`service.uri`" in error
    retries: list[Retry] = []
    with retry_notices(retries.append), pytest.raises(ArraylakeConnectionError):
        Client(url, token=TOKEN).list_orgs()
    assert retries == []  # one attempt, not 18 s of them


@pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (404, "application/xml", b"<?xml version='1.0'?><Error><Code>NoSuchBucket</Code></Error>"),
        (404, "text/html; charset=utf-8", b"<html><body><h1>Not Found</h1></body></html>"),
        (200, "text/html", b"<!doctype html><html><body>Welcome to our web app</body></html>"),
    ],
)
def test_a_server_that_is_not_arraylake_is_one_line(status: int, content_type: str, body: bytes) -> None:
    media = content_type.split(";")[0]
    with stand_in((status, content_type, body)) as (url, _):
        error = Cli(url, TOKEN)("repo", "list", "some-org", code=1).error
        assert error == f"Error: {url} does not look like an Arraylake service (answered {status} {media})"
        with pytest.raises(NotArraylakeServiceError):
            Client(url, token=TOKEN).list_orgs()


def test_the_cli_tells_each_retry_on_stderr_and_the_library_keeps_quiet(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    unavailable = (503, "application/json", b'{"detail": "the catalog is not available"}')
    with stand_in(unavailable, unavailable, (200, "application/json", b"[]")) as (url, seen):
        result = Cli(url, TOKEN)("org", "list", "--json")
        assert result.json() == [] and seen == ["/user/orgs"] * 3
        notices = result.stderr.splitlines()
        assert notices == [
            f"Retrying GET {url}/user/orgs in 0.0 s (1 of 10): HTTP 503 Service Unavailable",
            f"Retrying GET {url}/user/orgs in 0.0 s (2 of 10): HTTP 503 Service Unavailable",
        ]
    with stand_in(unavailable, (200, "application/json", b"[]")) as (url, _):
        capfd.readouterr()
        with caplog.at_level(logging.DEBUG, logger="arraylake.transport"):
            assert Client(url, token=TOKEN).list_orgs() == []
        assert capfd.readouterr().err == ""
        assert [r.getMessage() for r in caplog.records if r.name == "arraylake.transport"] == [
            f"Retrying GET {url}/user/orgs in 0.0 s (1 of 10): HTTP 503 Service Unavailable"
        ]


# --------------------------------------------------------------------------------------- inside a repo


@ON_SQLITE
def test_tree_of_an_empty_repo_says_so(service: ArraylakeService, org: Org) -> None:
    cli = Cli(service.url, org.token)
    name = f"{org.name}/empty"
    cli("repo", "create", name)
    assert cli("repo", "tree", name).stdout.strip() == f"{name} @ main has no groups or arrays yet."
    assert cli.json("repo", "tree", name)["root"] is None


@ON_SQLITE
def test_tree_shows_fill_values_decoded(service: ArraylakeService, org: Org) -> None:
    name = f"{org.name}/filled"
    repo = Client(service.url, token=org.token).create_repo(name)
    session = repo.writable_session("main")
    ds = xr.Dataset(
        {
            "t2m": (("x",), np.array([280.0, np.nan])),
            "sst": (("x",), np.array([1.5, 2.5]), {"_FillValue": -9999.0}),
        }
    )
    ds.to_zarr(session.store, zarr_format=3, consolidated=False)
    session.commit("with fill values")

    cli = Cli(service.url, org.token)
    members = {m["path"]: m for m in cli.json("repo", "tree", name)["root"]["members"]}
    assert members["/t2m"]["attributes"]["_FillValue"] == "NaN"
    assert members["/sst"]["attributes"]["_FillValue"] == -9999.0
    text = cli("repo", "tree", name).stdout
    assert '"_FillValue": "NaN"' in text and '"_FillValue": -9999.0' in text
    assert "+H8=" not in text  # the base64 of NaN


# ------------------------------------------------------------------------------------------ credentials


@ON_SQLITE
def test_auth_status_names_where_the_token_comes_from(service: ArraylakeService, org: Org) -> None:
    from_env = Cli(service.url, org.token)
    assert (
        from_env.json("auth", "status")["credentials"] == "API token (environment variable ARRAYLAKE_TOKEN)"
    )
    assert "environment variable ARRAYLAKE_TOKEN" in from_env("auth", "status").stdout

    from_file = Cli(service.url)
    from_file("config", "set", "token", org.token)
    status = from_file.json("auth", "status")
    assert (
        status["credentials"].startswith("API token (config file ") and "config.yaml" in status["credentials"]
    )

    argument = Cli(service.url)("auth", "status", "--json", "--config", f"token={org.token}").json()
    assert argument["credentials"] == "API token (argument --config token=...)"


@ON_SQLITE
def test_token_rotation_and_revoking_a_client_by_name(service: ArraylakeService, org: Org) -> None:
    admin = Cli(service.url, org.token)
    made = admin.json("org", "api-client", "create", org.name, "rotor", "--role", "repo_reader")
    first = made["token"]["token"]
    assert Cli(service.url, first)("org", "list").exit_code == 0

    created = admin("org", "api-client", "token", "create", org.name, "rotor", "--name", "q3")
    second = created.stdout.splitlines()[-1]
    assert second.startswith("ema_") and second != first
    expiring = admin.json(
        "org", "api-client", "token", "create", org.name, made["client"]["id"], "--expires-in-days", "1"
    )
    assert expiring["token"].startswith("ema_") and expiring["expires_at"]
    tokens = {t["id"]: t for t in admin.json("org", "api-client", "token", "list", org.name, "rotor")}
    assert len(tokens) == 3 and tokens[made["token"]["id"]]["revoked_at"] is None
    assert second not in admin("org", "api-client", "token", "list", org.name, "rotor").stdout

    admin("org", "api-client", "token", "revoke", org.name, "rotor", made["token"]["id"])
    assert "HTTP 401" in Cli(service.url, first)("org", "list", code=1).error
    assert Cli(service.url, second)("org", "list").exit_code == 0  # the new token keeps working

    admin("org", "api-client", "create", org.name, "twin")
    admin("org", "api-client", "create", org.name, "twin")
    twins = [c["id"] for c in admin.json("org", "api-client", "list", org.name) if c["name"] == "twin"]
    ambiguous = admin("org", "api-client", "revoke", org.name, "twin", "--yes", code=1).error
    assert "2 API clients" in ambiguous and all(twin in ambiguous for twin in twins)
    missing = admin("org", "api-client", "revoke", org.name, "nobody", "--yes", code=1).error
    assert f"{org.name} has no API client named or with id 'nobody'" in missing

    revoked = admin("org", "api-client", "revoke", org.name, "rotor", "--yes")
    assert made["client"]["id"] in revoked.stdout
    assert "HTTP 401" in Cli(service.url, second)("org", "list", code=1).error


# -------------------------------------------------------------------------------------------- start-up

HEAVY = ("icechunk", "zarr", "numpy", "xarray", "arraylake.server")


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)}


@pytest.mark.parametrize("args", [["--help"], ["config", "list"], ["auth", "--help"]])
def test_light_commands_do_not_import_icechunk_zarr_or_the_server(args: list[str]) -> None:
    run_cli = (
        "import sys\nfrom arraylake.cli.main import main\n"
        f"sys.argv = ['arraylake', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code"
    )
    assert _heavy(_modules_after(run_cli)) == set()


def test_import_arraylake_is_light_and_client_still_imports() -> None:
    assert _heavy(_modules_after("import arraylake")) == set()
    assert "httpx" not in _modules_after("import arraylake")
    assert _heavy(_modules_after("from arraylake import Client, AsyncClient")) == set()
    documented = (
        "from arraylake.client import IcechunkRepository\nassert IcechunkRepository.__name__ == 'Repository'"
    )
    assert "icechunk" in _modules_after(documented)  # the annotation alias loads icechunk when asked for


def test_the_root_help_lines_are_the_groups_own_summaries() -> None:
    for name, group in GROUPS.items():
        own = load_group(group.module)
        assert own.name == name and (own.help or "").split("\n\n")[0] == group.summary, name
