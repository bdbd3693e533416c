"""The compute services of an org, driven by the seed-era ``arraylake`` client (the 0.15 line) against our
service.

Runs in ``.venv-seed`` (``make seed-client``), never in the project's venv: the seed-era package shares our
import name. It uses only that client's public API (``Client.get_services`` and ``AsyncComputeClient``) and
the steps of ``scenario.py``.

Usage::

    .venv-seed/bin/python tests/seed_client/compute_scenario.py \
        --service-url http://127.0.0.1:PORT --token ema_... --org my-org

The org must have no compute services but tiles ones, which this client's models cannot represent: its
listing must still parse, without them. It prints one line per step, exits with status 1 at the first step
that fails, and ends with ``RESULT <json>`` and ``compute scenario PASSED``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import arraylake
from arraylake import Client
from arraylake.asyn import sync
from arraylake.compute.services import AsyncComputeClient
from arraylake.compute.types import DeploymentInfo, ServiceStatus

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scenario
from scenario import EXPECTED_CLIENT_VERSION, check, raises, step


def cli(args: argparse.Namespace, *words: str) -> str:
    """Run this client's command line (``arraylake ...``) against the service; its output."""
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
    with step(f"the seed-era client {EXPECTED_CLIENT_VERSION}"):
        check(arraylake.__version__ == EXPECTED_CLIENT_VERSION, f"arraylake {arraylake.__version__}")
        services = Client(args.service_url, token=args.token).get_services(org)
        check(type(services).__name__ == "ComputeClient", type(services))

    with step("list_enabled() parses (a tiles deployment, unknown to this client, is left out)"):
        check(services.list_enabled() == [], "expected no services this client can represent")

    with step("enable(protocol): the whole ServiceConfig is posted; the answer's message names the service"):
        answer = services.enable("edr")
        edr = answer["deployment"]["name"]
        check(edr.startswith("edr-") and edr in answer["message"], answer)
        check(answer["deployment"]["config"]["sku_code"] == "s", "the default SKU")

    with step("enable with the 0.15 names replicas, cache_ttl and cache_size"):
        answer = services.enable("dap2", replicas=2, cache_ttl=30, cache_size=5)
        dap2 = answer["deployment"]["name"]
        config = answer["deployment"]["config"]
        check(
            (config["min_replicas"], config["store_cache_ttl"], config["store_cache_size"]) == (2, 30, 5),
            config,
        )

    with step("enable(protocol, is_public=True): the message says loudly that anyone can read the org"):
        answer = services.enable("wms", is_public=True)
        wms = answer["deployment"]["name"]
        check("PUBLIC" in answer["message"] and f"every repo of org {org}" in answer["message"], answer)

    listed: list[DeploymentInfo] = []
    with step("list_enabled(): this client's DeploymentInfo, str(config) in its own form"):
        listed = services.list_enabled()
        check([d.name for d in listed] == [edr, dap2, wms], [d.name for d in listed])
        check(all(isinstance(d.status, ServiceStatus) for d in listed), [d.status for d in listed])
        by_name = {d.name: d for d in listed}
        check(by_name[edr].url == f"{args.service_url}/v1/services/{edr}", by_name[edr].url)
        check(str(by_name[edr].config) == f"edr://{org}", str(by_name[edr].config))
        check(str(by_name[dap2].config) == f"dap://{org}", str(by_name[dap2].config))  # the enum's name
        check(
            (by_name[dap2].config.replicas, by_name[dap2].config.cache_ttl) == (2, 30), by_name[dap2].config
        )
        check(by_name[wms].config.is_public is True, by_name[wms].config)

    with step("get_status(name) and get_logs(name): a dict and a string"):
        status = services.get_status(edr)
        check(status["name"] == edr and status["config"]["service_type"] == "edr", status)
        logs = services.get_logs(edr)
        check(isinstance(logs, str), type(logs))
        error = raises(lambda: services.get_status("nope"), "an unknown service")
        check("404" in str(error) and "has no compute service named 'nope'" in str(error), str(error))

    with step("AsyncComputeClient(service_uri, token, org), built directly"):
        aservices = AsyncComputeClient(args.service_url, args.token, org)
        check([d.name for d in sync(aservices.list_enabled)] == [edr, dap2, wms], "async listing")

    with step("bad input is refused with the service's detail (a ValueError in this client)"):
        error = raises(lambda: services.enable("edr", replicas=30), "more replicas than the most")
        check(isinstance(error, ValueError) and "exceeds max_replicas" in str(error), repr(error))
        check([d.name for d in services.list_enabled()] == [edr, dap2, wms], "nothing changed")

    with step("disable(name): a message; disabling twice fails"):
        for name in (edr, dap2, wms):
            answer = services.disable(name)
            check(f"service {name} of org {org} disabled" in answer["message"], answer)
        check("anonymous access ended" in answer["message"], answer)
        error = raises(lambda: services.disable(edr), "disabling twice")
        check("409" in str(error) and "already disabled" in str(error), str(error))
        check(services.list_enabled() == [], "services left")

    with step("the command line: arraylake compute enable, list, status, logs, disable"):
        out = cli(args, "compute", "enable", org, "zarr")
        name = next(word for word in out.split() if word.startswith("zarr-"))
        check(f"zarr service {name} enabled" in out, out)
        out = cli(args, "compute", "list", org)
        check(name in out and f"{args.service_url}/v1/services/{name}" in out, out)
        check(name in cli(args, "compute", "status", org, name), "status")
        cli(args, "compute", "logs", org, name)
        check("disabled" in cli(args, "compute", "disable", org, name), "disable")
        check(services.list_enabled() == [], "services left")

    return {"listed": [d.name for d in listed], "steps": scenario._step_count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--org", required=True, help="an org without compute services (but tiles ones)")
    args = parser.parse_args()
    result = run(args)
    print("RESULT " + json.dumps(result), flush=True)
    print(f"compute scenario PASSED ({result['steps']} steps)", flush=True)


if __name__ == "__main__":
    main()
