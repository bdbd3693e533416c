"""``arraylake compute serve``: run the data plane of one deployment on this machine (needs the ``compute``
extra).

The data plane is stateless: every replica authenticates callers and opens repos through the Arraylake
service, so operators run as many as they like, on as many machines, behind a load balancer.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
import xpublish  # noqa: F401  (the compute extra: without it, `compute serve` says how to install it)

from arraylake.cli.output import fail, say
from arraylake.dataplane.settings import ENV_PREFIX
from arraylake.types.compute import ServiceType

LogLevelName = typer.Option(
    "--log-level", envvar=f"{ENV_PREFIX}LOG_LEVEL", help="DEBUG, INFO, WARNING, ERROR or CRITICAL."
)


def serve(
    org: Annotated[
        str,
        typer.Option("--org", envvar=f"{ENV_PREFIX}ORG", help="The org whose repos this deployment serves."),
    ],
    protocol: Annotated[
        ServiceType,
        typer.Option("--protocol", "-p", envvar=f"{ENV_PREFIX}PROTOCOL", help="The protocol served."),
    ],
    service_url: Annotated[
        str,
        typer.Option(
            "--service-url",
            envvar=f"{ENV_PREFIX}SERVICE_URL",
            help="The Arraylake service: callers are authenticated, and repos opened, through its API.",
        ),
    ],
    deployment: Annotated[
        str,
        typer.Option(
            "--deployment",
            "-n",
            envvar=f"{ENV_PREFIX}DEPLOYMENT",
            help="The deployment's name (in /_health).",
        ),
    ] = "",
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            envvar=f"{ENV_PREFIX}PUBLIC_URL",
            help="Base of the data URLs as clients see them (the load balancer's URL); links in the "
            "protocols' answers point there. Default: the X-Arraylake-Public-Base header, else the "
            "request's own base URL.",
        ),
    ] = None,
    is_public: Annotated[
        bool,
        typer.Option(
            "--public/--private",
            envvar=f"{ENV_PREFIX}IS_PUBLIC",
            help="--public serves EVERY repo of the org to anonymous requests, read with the reader token.",
        ),
    ] = False,
    reader_token_env: Annotated[
        str,
        typer.Option(
            "--reader-token-env",
            help="Name of the environment variable holding the API token anonymous requests read as "
            "(--public only; a token never goes on the command line).",
        ),
    ] = f"{ENV_PREFIX}READER_TOKEN",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8400,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, max=64, help="Worker processes (replicas) on this port.")
    ] = 1,
    threads: Annotated[
        int | None,
        typer.Option("--threads", min=1, envvar=f"{ENV_PREFIX}THREADS", help="Dask threads per process."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            envvar=f"{ENV_PREFIX}CONCURRENCY",
            help="Requests a process serves at once; beyond this it answers 503.",
        ),
    ] = None,
    max_response_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-response-bytes",
            min=1,
            envvar=f"{ENV_PREFIX}MAX_RESPONSE_BYTES",
            help="Largest answer built in memory (images, Zarr chunks, EDR areas); larger requests get 413.",
        ),
    ] = None,
    max_stream_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-stream-bytes",
            min=1,
            envvar=f"{ENV_PREFIX}MAX_STREAM_BYTES",
            help="Largest streamed answer (DAP2 downloads).",
        ),
    ] = None,
    store_cache_ttl: Annotated[
        float | None,
        typer.Option(
            "--store-cache-ttl",
            min=0,
            envvar=f"{ENV_PREFIX}STORE_CACHE_TTL",
            help="Seconds an opened repo (and a caller's permission to read it) is reused; a revoked "
            "permission takes effect within this time. Default 60.",
        ),
    ] = None,
    store_cache_size: Annotated[
        int | None,
        typer.Option(
            "--store-cache-size",
            min=0,
            envvar=f"{ENV_PREFIX}STORE_CACHE_SIZE",
            help="Open datasets kept per process. Default 10.",
        ),
    ] = None,
    cache_max_age: Annotated[
        int | None,
        typer.Option(
            "--cache-max-age",
            min=0,
            envvar=f"{ENV_PREFIX}CACHE_MAX_AGE",
            help="Seconds a branch URL's answer may be reused before revalidating (snapshot and tag URLs "
            "are immutable). Default 0.",
        ),
    ] = None,
    dask_scheduler: Annotated[
        str | None,
        typer.Option(
            "--dask-scheduler",
            envvar=f"{ENV_PREFIX}DASK_SCHEDULER",
            help="Address of a Dask distributed scheduler (tcp://host:8786) for DAP2 and EDR queries; "
            "its workers must reach the storage (the repo's credentials travel with each task). Default: "
            "Dask threads in each process.",
        ),
    ] = None,
    log_level: Annotated[str, LogLevelName] = "INFO",
) -> None:
    """Run the data plane of one deployment: every repo of ORG over PROTOCOL, at
    /{org}/{repo}/{branch|tag|snapshot}/{group}/{edr|wms|tiles|opendap|zarr}/...

    Callers authenticate with HTTP Basic (user name = the org, password = an API token) or a bearer
    token, and read what their permissions on the service allow. Run N replicas on other machines behind
    a load balancer, with the same options: each is stateless and reads the same catalog through the
    service. GET /_health answers once the process is ready.
    """
    values: dict[str, object | None] = {
        "ORG": org,
        "PROTOCOL": protocol.value,
        "SERVICE_URL": service_url,
        "DEPLOYMENT": deployment,
        "PUBLIC_URL": public_url,
        "IS_PUBLIC": str(is_public).lower(),
        "THREADS": threads,
        "CONCURRENCY": concurrency,
        "MAX_RESPONSE_BYTES": max_response_bytes,
        "MAX_STREAM_BYTES": max_stream_bytes,
        "STORE_CACHE_TTL": store_cache_ttl,
        "STORE_CACHE_SIZE": store_cache_size,
        "CACHE_MAX_AGE": cache_max_age,
        "DASK_SCHEDULER": dask_scheduler,
        "LOG_LEVEL": log_level.upper(),
    }
    if is_public:
        token = os.environ.get(reader_token_env)
        if not token:
            fail(f"--public needs the reader token in the environment variable {reader_token_env}")
        values["READER_TOKEN"] = token
    # Options become environment variables so that every worker process builds the same settings.
    for key, value in values.items():
        if value is not None:
            os.environ[f"{ENV_PREFIX}{key}"] = str(value)
    from pydantic import ValidationError

    from arraylake.dataplane.__main__ import run
    from arraylake.dataplane.settings import DataPlaneSettings

    try:
        settings = DataPlaneSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{ENV_PREFIX}{'_'.join(str(x) for x in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        fail(f"invalid data plane setting: {problems}")
    visibility = "PUBLIC: anonymous requests read every repo of the org" if settings.is_public else "private"
    say(
        f"Serving {settings.protocol.value} for org [bold]{settings.org}[/bold] ({visibility}) on "
        f"http://{host}:{port} with {workers} worker(s); repos opened through {settings.service_url}"
    )
    run(host, port, workers, settings)
