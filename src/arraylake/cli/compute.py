"""``arraylake compute ...``: an org's compute services, which serve every repo of the org over EDR, WMS,
Tiles, DAP2/OPeNDAP or Zarr; and ``serve``, the data plane that operators run themselves."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from arraylake.cli import output, state
from arraylake.cli.core import ArraylakeTyper
from arraylake.cli.params import Json, Org, want_json
from arraylake.types.compute import DeploymentInfo, ServiceStatus, ServiceType

if TYPE_CHECKING:
    from arraylake.client.compute import ComputeClient

SERVE_MODULE = "arraylake.cli.compute_serve"
SERVE_SUMMARY = (
    "Run the data plane yourself: a stateless server for one deployment, to run on many machines "
    "behind a load balancer (needs the `compute` extra)."
)
DEFAULT_LOG_TAIL = 100
STATUS_STYLES = {
    ServiceStatus.AVAILABLE: "green",
    ServiceStatus.PROGRESSING: "yellow",
    ServiceStatus.ERROR: "red",
    ServiceStatus.QUOTA_EXCEEDED: "red",
    ServiceStatus.SLEEPING: "cyan",
}
"""How ``list`` and ``status`` colour a status; any other one (a new one too) is grey."""
EXAMPLE_PATHS = {
    ServiceType.EDR: "edr/position?coords=POINT(LON LAT)&parameter-name=VARIABLE",
    ServiceType.WMS: "wms?service=WMS&version=1.3.0&request=GetCapabilities",
    ServiceType.TILES: "tiles/",
    ServiceType.DAP2: "opendap",
    ServiceType.ZARR: "zarr",
}
EXAMPLE_CLIENTS = {
    ServiceType.DAP2: "netCDF4.Dataset(URL) or pydap",
    ServiceType.ZARR: "xarray.open_zarr(URL)",
    ServiceType.WMS: "OWSLib WebMapService(URL, version='1.3.0')",
}


class ComputeGroup(TyperGroup):
    """The ``compute`` group. ``serve`` lives in a module that needs the ``compute`` extra: it is imported
    only when it runs, so the other commands (and every help page) work without that extra."""

    _summaries_only = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *([] if "serve" in self.commands else ["serve"])]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name == "serve":
            if self._summaries_only:
                return TyperGroup(name="serve", help=SERVE_SUMMARY)
            found = _serve_command()
            self.add_command(found, "serve")
        return found

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._summaries_only = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._summaries_only = False


def _serve_command() -> Any:
    """``serve`` from its module, or (without the ``compute`` extra) a command that says how to get it."""
    try:
        module = importlib.import_module(SERVE_MODULE)
    except ImportError as exc:
        missing = exc

        def serve() -> None:
            output.fail(
                f"`arraylake compute serve` needs the compute extra ({missing}): "
                "pip install 'arraylake-open[compute]'"
            )

        serve.__doc__ = SERVE_SUMMARY
        holder = _holder()
        anything = {"ignore_unknown_options": True, "allow_extra_args": True}
        holder.command("serve", context_settings=anything)(serve)
        return typer.main.get_command(holder)
    found = getattr(module, "app", None)
    if found is None:
        found = _holder()
        found.command("serve")(module.serve)
    return typer.main.get_command(found)


def _holder() -> ArraylakeTyper:
    """A typer app whose one command is the click command ``serve`` becomes."""
    return ArraylakeTyper(name="serve", global_options=False, no_args_is_help=False, add_completion=False)


app = ArraylakeTyper(
    name="compute",
    cls=ComputeGroup,
    help="Compute services: serve every repo of an org over EDR, WMS, Tiles, DAP2/OPeNDAP or Zarr.\n\n"
    "An org admin enables a service per protocol (several with distinct `--deployment-name`s); members "
    "list them and read their status and logs. A service's data is under "
    "`{URL}/{org}/{repo}/{branch|tag|snapshot}/{group}/{edr|wms|tiles|opendap|zarr}/...`; private services "
    "take HTTP Basic auth with the org as user name and an API key as password (or the bearer token).",
)

Name = Annotated[
    str,
    typer.Argument(metavar="NAME", help="The service's deployment name (see `arraylake compute list`)."),
]


def _services(org: str) -> ComputeClient:
    return state.client().get_services(org)


def _status(status: ServiceStatus) -> str:
    """A status as rich markup, in its colour."""
    return f"[{STATUS_STYLES.get(status, 'grey50')}]{escape(status.value)}[/]"


def _example_url(info: DeploymentInfo) -> str:
    kind = info.config.service_type
    return f"{info.url}/{info.config.org}/REPO/main/{EXAMPLE_PATHS.get(kind, kind.url_suffix)}"


def _show_ready(info: DeploymentInfo) -> None:
    kind = info.config.service_type
    output.say(f"[green]{escape(info.name)} is {escape(info.status.value)}[/green] at {escape(info.url)}")
    output.say(f"Example: {escape(_example_url(info))}")
    if kind in EXAMPLE_CLIENTS:
        output.say(f"Open it with {escape(EXAMPLE_CLIENTS[kind])}.")
    output.say(f"Datasets of the org: {escape(info.url)}/{escape(info.config.org)}/_meta/discovery")
    if not info.config.is_public:
        output.say(f"Auth: HTTP Basic, user name {escape(info.config.org)}, password an API key (ema_...).")


def _public_warning(org: str) -> None:
    output.err_console.print(
        f"[bold red]WARNING: --is-public serves EVERY repo of org {escape(org)} to ANYONE on the network, "
        "without a token.[/bold red]",
        highlight=False,
    )


@app.command()
def enable(
    org: Org,
    protocol: Annotated[
        ServiceType,
        typer.Argument(metavar="PROTOCOL", help="The protocol it serves.", show_default=False),
    ],
    is_public: Annotated[
        bool,
        typer.Option(
            "--is-public/--no-is-public",
            help="Serve anyone without credentials: every repo of the org becomes readable by anyone.",
        ),
    ] = False,
    sku_code: Annotated[
        str | None,
        typer.Option(
            "--sku-code", "-s", metavar="CODE", help="Its size (see `skus`); default: the service's default."
        ),
    ] = None,
    deployment_name: Annotated[
        str | None,
        typer.Option(
            "--deployment-name",
            "-n",
            metavar="NAME",
            help="Up to 16 lowercase letters, digits and inner dashes; default PROTOCOL-xxxxxxx.",
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option("--region", "-r", metavar="REGION", help="Where it runs (see `regions`, default `*`)."),
    ] = None,
    min_replicas: Annotated[
        int | None,
        typer.Option(
            "--min-replicas", min=0, metavar="N", help="Processes kept running (0: it sleeps when idle)."
        ),
    ] = None,
    max_replicas: Annotated[
        int | None, typer.Option("--max-replicas", min=1, metavar="N", help="At most this many.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until it answers requests, showing its progress.")
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, metavar="SECONDS", help="With --wait: how long to wait.")
    ] = 300,
    json_output: Json = False,
) -> None:
    """Enable a compute service for the org (org admins); with `--wait`, until it answers requests."""
    if is_public:
        _public_warning(org)
    settings: dict[str, Any] = {
        key: value
        for key, value in (("min_replicas", min_replicas), ("max_replicas", max_replicas))
        if value is not None
    }
    services = _services(org)
    answer = services.enable(
        protocol, is_public, sku_code=sku_code, region=region, deployment_name=deployment_name, **settings
    )
    info = DeploymentInfo.model_validate(answer["deployment"]) if "deployment" in answer else None
    if not want_json(json_output):
        output.say(escape(str(answer.get("message", ""))))
    if wait and info is not None:
        with output.err_console.status(f"Starting {escape(info.name)}...") as shown:

            def progress(seen: DeploymentInfo) -> None:
                shown.update(
                    f"Starting {escape(seen.name)}: {_status(seen.status)} "
                    f"({seen.ready_replicas} of {seen.config.min_replicas} replicas ready)"
                )

            info = services.wait_until_ready(info.name, timeout, on_status=progress)
        answer = {**answer, "deployment": info}
        if not want_json(json_output):
            _show_ready(info)
    if want_json(json_output):
        output.print_json(answer)


@app.command("list")
def list_services(org: Org, json_output: Json = False) -> None:
    """The org's enabled compute services."""
    found = _services(org).list_enabled()
    if want_json(json_output):
        output.print_json(found)
        return
    if not found:
        output.say(f"[dim]Compute services of {escape(org)}: none[/dim]")
        return
    columns = ["Name", "Service Type", "Org", "Public", "URL", "Status", "Region"]
    grid = Table(*(output.column(c) for c in columns), title=f"Compute services of {escape(org)}")
    grid.title_justify = "left"
    grid.header_style = "bold"
    for d in found:
        public = "[bold red]yes[/bold red]" if d.config.is_public else "no"
        row = [d.name, d.config.service_type.value, d.config.org]
        grid.add_row(*map(escape, row), public, escape(d.url), _status(d.status), escape(d.region or ""))
    output.show(grid)


@app.command()
def status(org: Org, name: Name, json_output: Json = False) -> None:
    """A compute service's state, and why when it is in error."""
    found = _services(org).get_status(name)
    if want_json(json_output):
        output.print_json(found)
        return
    info = DeploymentInfo.model_validate(found)
    config = info.config
    pairs: Mapping[str, str] = {
        "Name": escape(info.name),
        "Service type": escape(config.service_type.value),
        "Org": escape(config.org),
        "Status": _status(info.status),
        "Detail": escape(info.status_detail or ""),
        "Ready replicas": f"{info.ready_replicas} (min {config.min_replicas}, max {config.max_replicas})",
        "SKU": escape(config.sku_code or ""),
        "Region": escape(info.region or ""),
        "Public": "[bold red]yes: anyone can read every repo of the org[/bold red]"
        if config.is_public
        else "no",
        "URL": escape(info.url),
        "Created": f"{output.when(info.created)} UTC",
    }
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs.items():
        if value:
            grid.add_row(key, value)
    output.show(grid)


def _moment(value: str | None) -> str | None:
    """An ISO 8601 time, checked here so that a typo is a usage error rather than the service's 422."""
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO 8601 time such as 2025-01-31T12:00:00Z, got {value!r}"
        ) from None
    return value


@app.command()
def logs(
    org: Org,
    name: Name,
    tail: Annotated[
        int | None,
        typer.Option(
            "--tail",
            min=0,
            metavar="N",
            help=f"The last N lines (default {DEFAULT_LOG_TAIL} when no other option is given).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="ISO", callback=_moment, help="Lines from this time on (ISO 8601)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="ISO", callback=_moment, help="Lines up to this time (ISO 8601)."),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines as they come.")
    ] = False,
    follow_timeout: Annotated[
        int,
        typer.Option(
            "--follow-timeout", min=1, max=600, metavar="SECONDS", help="With --follow: for how long."
        ),
    ] = 30,
) -> None:
    """A compute service's own output and the service's events about it (starting, ready, crashed...).

    Lines read `<time> <stdout|stderr> F <message>`."""
    if tail is None and since is None and until is None and not follow:
        tail = DEFAULT_LOG_TAIL
    lines = _services(org).stream_logs(
        name, tail=tail, follow=follow, since=since, until=until, follow_timeout=follow_timeout
    )
    for line in lines:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


@app.command()
def update(
    org: Org,
    name: Name,
    sku: Annotated[str | None, typer.Option("--sku", metavar="CODE", help="A new size (see `skus`).")] = None,
    min_replicas: Annotated[
        int | None, typer.Option("--min-replicas", min=0, metavar="N", help="Processes kept running.")
    ] = None,
    max_replicas: Annotated[
        int | None, typer.Option("--max-replicas", min=1, metavar="N", help="At most this many.")
    ] = None,
    json_output: Json = False,
) -> None:
    """Resize a compute service (org admins); it restarts with the new values."""
    if sku is None and min_replicas is None and max_replicas is None:
        raise typer.BadParameter("give at least one of --sku, --min-replicas, --max-replicas")
    info = _services(org).update(name, sku_code=sku, min_replicas=min_replicas, max_replicas=max_replicas)
    if want_json(json_output):
        output.print_json(info)
        return
    config = info.config
    output.say(
        f"Updated [bold]{escape(info.name)}[/bold]: SKU {escape(config.sku_code or '')}, replicas "
        f"{config.min_replicas} to {config.max_replicas}; it restarts with them ({_status(info.status)})."
    )


@app.command()
def disable(org: Org, name: Name, json_output: Json = False) -> None:
    """Disable a compute service (org admins): its processes stop; its status and logs stay readable."""
    answer = _services(org).disable(name)
    if want_json(json_output):
        output.print_json(answer)
        return
    output.say(escape(str(answer.get("message", f"Disabled {name}."))))


@app.command()
def regions(org: Org, json_output: Json = False) -> None:
    """Where compute services may run; `*` marks the default."""
    found = _services(org).regions()
    if want_json(json_output):
        output.print_json(found)
        return
    output.table(
        ["Name", "Location", "Default"],
        [(r.name, r.location, "*" if r.default else "") for r in found],
        title=f"Compute regions for {org}",
    )


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:g} {unit}"
    return f"{count} B"


@app.command()
def skus(org: Org, json_output: Json = False) -> None:
    """The sizes a compute service runs at (per process): `--sku-code` of `enable`, `--sku` of `update`."""
    found = _services(org).skus()
    if want_json(json_output):
        output.print_json(found)
        return
    output.table(
        ["Code", "Description", "Threads", "Concurrency", "Memory", "Largest response", "Largest download"],
        [
            (
                s.code,
                s.description,
                s.threads,
                s.concurrency,
                _size(s.memory_mb << 20),
                _size(s.max_response_bytes),
                _size(s.max_stream_bytes),
            )
            for s in found
        ],
        title=f"Compute SKUs for {org}",
    )
