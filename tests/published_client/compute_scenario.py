"""The compute services of an org, driven by the *published* ``arraylake`` client (1.7.0) against our service.

Runs in ``.venv-published`` (``make published-client``), never in the project's venv: the published package
shares our import name. It uses only the published client's public API (``Client.get_services``,
``AsyncClient.get_services``) and the steps of ``scenario.py``.

Usage::

    .venv-published/bin/python tests/published_client/compute_scenario.py \
        --service-url http://127.0.0.1:PORT --token ema_... --org my-org

The org must have no compute services. It prints one line per step, exits with status 1 at the first
step that fails, and ends with ``RESULT <json>`` and ``compute scenario PASSED``. It does not wait for a
service to become available: that is the supervisor's matter, tested on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import arraylake
from arraylake import AsyncClient, Client
from arraylake.compute.types import ComputeRegion, DeploymentInfo, ServiceStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenario
from scenario import EXPECTED_CLIENT_VERSION, check, expect_http_error, step


def cli(args: argparse.Namespace, *words: str) -> str:
    """Run the published client's command line (``arraylake ...``) against the service; its output."""
    env = {
        **os.environ,
        "ARRAYLAKE_SERVICE__URI": args.service_url,
        "ARRAYLAKE_TOKEN": args.token,
        "COLUMNS": "300",  # no table cell or message wrapped
    }
    done = subprocess.run(
        [sys.executable, "-m", "arraylake", *words], env=env, capture_output=True, text=True, timeout=120
    )
    check(
        done.returncode == 0,
        f"arraylake {' '.join(words)}: exit {done.returncode}\n{done.stdout}{done.stderr}",
    )
    return done.stdout


def run(args: argparse.Namespace) -> dict[str, Any]:
    org = args.org
    with step(f"published client is arraylake {EXPECTED_CLIENT_VERSION}"):
        check(arraylake.__version__ == EXPECTED_CLIENT_VERSION, f"arraylake {arraylake.__version__}")
        services = Client(service_uri=args.service_url, token=args.token).get_services(org)
        check(type(services).__name__ == "ComputeClient", type(services))
        aservices = AsyncClient(service_uri=args.service_url, token=args.token).get_services(org)
        check(type(aservices).__name__ == "AsyncComputeClient", type(aservices))

    with step("regions(): this installation's one region, the default"):
        regions = services.regions()
        check(regions == [ComputeRegion(name="local", location=None, default=True)], regions)

    with step("list_enabled() on an org without services"):
        check(services.list_enabled() == [], "expected no services")

    with step("enable(protocol, sku_code=...): a message and a generated deployment name"):
        answer = services.enable("edr", sku_code="xs")
        check("edr service edr-" in answer["message"] and "PUBLIC" not in answer["message"], answer)
        edr = answer["deployment"]["name"]
        check(edr.startswith("edr-") and len(edr) == 11, edr)

    with step("enable with a deployment name, region and replicas: a second service of a protocol"):
        answer = services.enable(
            "zarr", sku_code="s", region="local", deployment_name="zarr-prod", min_replicas=1, max_replicas=2
        )
        check(answer["deployment"]["name"] == "zarr-prod", answer)

    with step("enable with a SKU, a region or a protocol this service does not offer: 422 naming the offer"):
        error = expect_http_error(422, lambda: services.enable("edr", sku_code="xxl"), "unknown SKU")
        check("xs, s, m, l" in str(error), str(error))
        error = expect_http_error(422, lambda: services.enable("edr", sku_code="s", region="mars"), "region")
        check("this service offers local" in str(error), str(error))
        expect_http_error(422, lambda: services.enable("openeo", sku_code="s"), "openeo")
        error = expect_http_error(
            409, lambda: services.enable("wms", sku_code="s", deployment_name="zarr-prod"), ""
        )
        check("already has an enabled service named zarr-prod" in str(error), str(error))

    listed: list[DeploymentInfo] = []
    with step("list_enabled(): DeploymentInfo with URL, config, status, region; str(config)"):
        listed = services.list_enabled()
        check([d.name for d in listed] == [edr, "zarr-prod"], [d.name for d in listed])
        prod = listed[1]
        check(prod.url == f"{args.service_url}/v1/services/zarr-prod", prod.url)
        check(isinstance(prod.status, ServiceStatus) and prod.region == "local", (prod.status, prod.region))
        check((prod.config.sku_code, prod.config.min_replicas, prod.config.max_replicas) == ("s", 1, 2), prod)
        check(str(prod.config) == f"zarr://{org}/zarr-prod", str(prod.config))
        check(prod.created.tzinfo is not None, prod.created)

    with step("get_status(name): the deployment as a dict"):
        status = services.get_status("zarr-prod")
        check(status["name"] == "zarr-prod" and status["status"] in set(ServiceStatus), status)
        expect_http_error(404, lambda: services.get_status("nope"), "an unknown service")

    with step("get_logs(name[, tail]): text lines; stream_logs(follow=True) ends after follow_timeout"):
        check(isinstance(services.get_logs(edr), str), "get_logs")
        check(isinstance(services.get_logs(edr, tail=5), str), "get_logs(tail=5)")

        async def follow() -> list[str]:
            lines = await aservices.stream_logs(edr, follow=True, follow_timeout=1, tail=3)
            return [line async for line in lines]

        check(all(isinstance(line, str) for line in asyncio.run(follow())), "stream_logs")

    with step("update(name, sku_code=...): only the given fields change"):
        updated = services.update("zarr-prod", sku_code="m")
        check(isinstance(updated, DeploymentInfo), type(updated))
        check((updated.config.sku_code, updated.config.max_replicas) == ("m", 2), updated.config)
        updated = services.update("zarr-prod", min_replicas=0, max_replicas=3)
        check((updated.config.sku_code, updated.config.min_replicas) == ("m", 0), updated.config)
        error = expect_http_error(422, lambda: services.update("zarr-prod", min_replicas=5), "min > max")
        check("exceeds max_replicas" in str(error), str(error))
        try:
            services.update("zarr-prod")
        except ValueError as error:
            check("Nothing to update" in str(error), str(error))
        else:
            check(False, "update() without fields did not raise")

    with step("AsyncClient.get_services(org).list_enabled()"):
        check([d.name for d in asyncio.run(aservices.list_enabled())] == [edr, "zarr-prod"], "async listing")

    with step("disable(name): a message; disabling twice is a 409; the other one stays"):
        answer = services.disable(edr)
        check(f"service {edr} of org {org} disabled" in answer["message"], answer)
        error = expect_http_error(409, lambda: services.disable(edr), "disabling twice")
        check("already disabled" in str(error), str(error))
        check([d.name for d in services.list_enabled()] == ["zarr-prod"], "after disabling")
        check(services.get_status(edr)["name"] == edr, "a disabled service's status stays readable")

    with step("disable the last one"):
        services.disable("zarr-prod")
        check(services.list_enabled() == [], "services left")

    with step("the command line: arraylake compute enable, list, status, logs, update, disable"):
        out = cli(args, "compute", "enable", org, "wms", "--sku-code", "xs", "--deployment-name", "cli-wms")
        check("wms service cli-wms enabled" in out, out)
        out = cli(args, "compute", "list", org)
        check("cli-wms" in out and f"{args.service_url}/v1/services/cli-wms" in out, out)
        check("cli-wms" in cli(args, "compute", "status", org, "cli-wms"), "status")
        cli(args, "compute", "logs", org, "cli-wms", "--tail", "5")
        cli(args, "compute", "update", org, "cli-wms", "--sku", "m")
        check(services.get_status("cli-wms")["config"]["sku_code"] == "m", "update through the CLI")
        check("disabled" in cli(args, "compute", "disable", org, "cli-wms"), "disable")
        check(services.list_enabled() == [], "services left")

    return {"edr": edr, "steps": scenario._step_count}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--service-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--org", required=True, help="an org without compute services")
    args = parser.parse_args()
    result = run(args)
    print("RESULT " + json.dumps(result), flush=True)
    print(f"compute scenario PASSED ({result['steps']} steps)", flush=True)


if __name__ == "__main__":
    main()
