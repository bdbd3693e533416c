"""``arraylake compute ...`` against a live service: tables and ``--json`` for every command, progress and
the service's URL after ``enable --wait``, and one clear line (exit code != 0) for bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from arraylake import Client
from tests.support.cli import Cli, run
from tests.support.service import ArraylakeService, Org

pytestmark = pytest.mark.usefixtures("home")
on_sqlite = pytest.mark.parametrize("service", ["sqlite"], indirect=True)


@pytest.fixture
def cli(service: ArraylakeService, org: Org) -> Cli:
    return Cli(service.url, org.token)


@on_sqlite
def test_regions_and_skus(cli: Cli, org: Org) -> None:
    regions = cli.json("compute", "regions", org.name)
    assert [r["default"] for r in regions].count(True) == 1
    assert "*" in cli("compute", "regions", org.name).stdout
    skus = {s["code"]: s for s in cli.json("compute", "skus", org.name)}
    assert {"xs", "s", "m", "l"} <= set(skus) and skus["xs"]["threads"] >= 1
    table = cli("compute", "skus", org.name).stdout
    assert "Largest response" in table and "512 MiB" in table and "64 MiB" in table


@on_sqlite
def test_enable_list_status_logs_update_disable(cli: Cli, org: Org) -> None:
    enabled = cli.json("compute", "enable", org.name, "wms", "-s", "xs", "-n", "wms-cli", "--no-wait")
    assert "wms-cli" in enabled["message"] and enabled["deployment"]["config"]["sku_code"] == "xs"

    (listed,) = cli.json("compute", "list", org.name)
    assert listed["name"] == "wms-cli" and listed["config"]["service_type"] == "wms"
    table = cli("compute", "list", org.name).stdout
    for header in ("Name", "Service Type", "Org", "Public", "URL", "Status", "Region"):
        assert header in table
    assert "wms-cli" in table and listed["url"] in table and listed["region"] in table

    status = cli.json("compute", "status", org.name, "wms-cli")
    assert status["name"] == "wms-cli" and status["status"] in {
        "progressing",
        "available",
        "error",
    }
    text = cli("compute", "status", org.name, "wms-cli").stdout
    assert "wms-cli" in text and "SKU" in text and "xs" in text and "min 1, max 24" in text

    logs = cli("compute", "logs", org.name, "wms-cli").stdout
    assert "[supervisor]" in logs or logs == ""
    last = cli("compute", "logs", org.name, "wms-cli", "--tail", "1").stdout
    assert len(last.splitlines()) <= 1
    followed = cli("compute", "logs", org.name, "wms-cli", "--follow", "--follow-timeout", "1")
    assert followed.stdout.startswith(last.strip())

    updated = cli.json("compute", "update", org.name, "wms-cli", "--sku", "m", "--max-replicas", "4")
    assert (updated["config"]["sku_code"], updated["config"]["max_replicas"]) == ("m", 4)
    said = cli("compute", "update", org.name, "wms-cli", "--min-replicas", "0").stdout
    assert "Updated wms-cli" in said and "replicas 0 to 4" in said

    gone = cli("compute", "disable", org.name, "wms-cli").stdout
    assert "wms-cli" in gone
    assert cli.json("compute", "list", org.name) == []
    assert "none" in cli("compute", "list", org.name).stdout
    again = cli("compute", "disable", org.name, "wms-cli", code=1)
    assert "already disabled" in again.error


@on_sqlite
def test_enable_waits_and_shows_the_url(cli: Cli, org: Org, service: ArraylakeService) -> None:
    shown = cli("compute", "enable", org.name, "zarr", "-s", "xs", "-n", "zarr-cli", "--timeout", "180")
    try:
        url = f"{service.url}/v1/services/zarr-cli"
        assert f"zarr-cli is available at {url}" in shown.stdout
        assert f"Example: {url}/{org.name}/REPO/main/zarr" in shown.stdout
        assert "xarray.open_zarr" in shown.stdout and f"user name {org.name}" in shown.stdout
    finally:
        cli("compute", "disable", org.name, "zarr-cli")


@on_sqlite
def test_public_services_are_announced_loudly(cli: Cli, org: Org) -> None:
    made = cli("compute", "enable", org.name, "edr", "--is-public", "-s", "xs", "-n", "edr-pub", "--no-wait")
    try:
        assert "WARNING" in made.stderr and "EVERY repo" in made.stderr and "ANYONE" in made.stderr
        assert "PUBLIC" in made.stdout
        assert "anyone can read every repo" in cli("compute", "status", org.name, "edr-pub").stdout
    finally:
        cli("compute", "disable", org.name, "edr-pub")


@on_sqlite
def test_bad_input_is_one_clear_line(cli: Cli, org: Org, service: ArraylakeService) -> None:
    unknown = cli("compute", "enable", org.name, "ftp", code=2)
    assert "'ftp' is not one of" in unknown.error and "edr" in unknown.error
    sku = cli("compute", "enable", org.name, "edr", "-s", "huge", "--no-wait", code=1)
    assert "huge" in sku.error and "xs" in sku.error and "HTTP 422" in sku.error
    region = cli("compute", "enable", org.name, "edr", "-r", "mars", "--no-wait", code=1)
    assert "mars" in region.error and "local" in region.error
    name = cli("compute", "enable", org.name, "edr", "-n", "Bad_Name", "--no-wait", code=1)
    assert "deployment_name" in name.stderr
    assert "--min-replicas" in cli("compute", "enable", org.name, "edr", "--min-replicas", "-1", code=2).error
    assert cli.json("compute", "list", org.name) == []

    assert "nope" in cli("compute", "status", org.name, "nope", code=1).error
    assert "at least one of" in cli("compute", "update", org.name, "nope", code=2).error
    assert "--max-replicas" in cli("compute", "update", org.name, "x", "--max-replicas", "0", code=2).error
    assert "ISO 8601" in cli("compute", "logs", org.name, "x", "--since", "yesterday", code=2).error
    assert (
        "--follow-timeout" in cli("compute", "logs", org.name, "x", "--follow-timeout", "601", code=2).error
    )
    assert "org name" in cli("compute", "list", "not an org", code=1).error

    viewer = Client(service.url, token=org.token).create_api_client(org.name, "cli-viewer", role="member")
    refused = cli("compute", "enable", org.name, "edr", token=viewer.token.token.get_secret_value(), code=1)
    assert "HTTP 403" in refused.error


def test_help_reads_well() -> None:
    group = run("compute", "--help")
    assert group.exit_code == 0
    for command in ("enable", "list", "status", "logs", "update", "disable", "regions", "skus", "serve"):
        assert command in group.stdout
    enable = run("compute", "enable", "--help")
    for option in ("--is-public", "--sku-code", "--deployment-name", "--region", "--wait", "--min-replicas"):
        assert option in enable.stdout
    assert "--follow-timeout" in run("compute", "logs", "--help").stdout
    assert "compute" in run("--help").stdout
    serve = run("compute", "serve", "--help")
    assert serve.exit_code == 0 and "--service-url" in serve.stdout and "load balancer" in serve.stdout


def test_only_serve_loads_the_compute_extra() -> None:
    # the other commands, and every help page, work without the heavy protocol libraries
    code = (
        "import sys; from typer.testing import CliRunner; from arraylake.cli.main import app; "
        "[CliRunner().invoke(app, args) for args in (['compute', '--help'], ['compute', 'list', '--help'])]; "
        "assert 'xpublish' not in sys.modules, 'xpublish loaded'; "
        "CliRunner().invoke(app, ['compute', 'serve', '--help']); assert 'xpublish' in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_serve_without_the_compute_extra_says_how_to_get_it() -> None:
    code = (
        "import sys; sys.modules['xpublish'] = None; "
        "sys.argv = ['arraylake', 'compute', 'serve', '--org', 'x']; "
        "from arraylake.cli.main import main; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1
    assert "needs the compute extra" in result.stderr and "arraylake-open[compute]" in result.stderr
    assert "Traceback" not in result.stderr
