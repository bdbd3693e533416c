"""The main job, on the embedded default: start a service, create a repo, write an xarray dataset, commit,
read it back, list repos.

Run with ``make demo``. The service keeps its catalog (SQLite) and data (a local directory) in ``.demo/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import icechunk
import numpy as np
import pandas as pd
import xarray as xr
from icechunk.xarray import to_icechunk
from rich.console import Console
from rich.table import Table

from arraylake import Client

console = Console(soft_wrap=True)
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".demo"
ORG = "demo"


def step(text: str) -> None:
    console.print(f"\n[bold cyan]==>[/bold cyan] [bold]{text}[/bold]")


def arraylake(*args: str) -> list[str]:
    return [sys.executable, "-m", "arraylake", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_service() -> str:
    step(f"arraylake server init --data-dir {DATA_DIR.relative_to(ROOT)} --org {ORG}")
    if DATA_DIR.exists():
        subprocess.run(["rm", "-rf", str(DATA_DIR)], check=True)
    out = subprocess.run(
        arraylake("server", "init", "--data-dir", str(DATA_DIR), "--org", ORG),
        check=True,
        capture_output=True,
        text=True,
    )
    lines = out.stdout.strip().splitlines()
    token = lines[-1]
    console.print("\n".join(lines[:-2]))
    console.print(f"Admin API token: {token[:8]}... (init prints it in full, once)")
    return token


def start_service(port: int) -> subprocess.Popen[bytes]:
    step(f"arraylake server start --data-dir {DATA_DIR.relative_to(ROOT)} --port {port}")
    log = (DATA_DIR / "service.log").open("wb")
    process = subprocess.Popen(
        arraylake("server", "start", "--data-dir", str(DATA_DIR), "--port", str(port)),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            info = httpx.get(url + "/", timeout=1).json()
            console.print(
                f"Service {info['service']} {info['version']} answering at {url} (log: .demo/service.log)"
            )
            return process
        except httpx.HTTPError:
            if process.poll() is not None:
                raise SystemExit(f"the service exited; see {DATA_DIR / 'service.log'}") from None
            time.sleep(0.1)
    raise SystemExit("the service did not start within 30 s")


def weather() -> xr.Dataset:
    times = pd.date_range("2025-01-01", periods=48, freq="h")
    lat = np.arange(35.0, 71.0, 1.0)
    lon = np.arange(-10.0, 30.0, 1.0)
    hours = np.arange(times.size)[:, None, None]
    base = 288 - 0.6 * (lat[None, :, None] - 35) + 4 * np.sin(2 * np.pi * hours / 24)
    noise = np.random.default_rng(7).normal(0, 0.5, (times.size, lat.size, lon.size))
    return xr.Dataset(
        {
            "t2m": (
                ("time", "lat", "lon"),
                (base + noise).astype("f4"),
                {"units": "K", "long_name": "2 m temperature"},
            )
        },
        coords={"time": times, "lat": lat, "lon": lon},
        attrs={"source": "Arraylake demo"},
    ).chunk({"time": 12})


def main_job(url: str, token: str) -> None:
    client = Client(url, token=token)

    step(f'client.create_repo("{ORG}/weather")')
    repo = client.create_repo(
        f"{ORG}/weather", description="Hourly 2 m temperature", metadata={"domain": "europe"}
    )
    record = client.get_repo_object(f"{ORG}/weather")
    console.print(
        f"Created {record.full_name} in bucket {record.bucket.nickname!r} at prefix {record.prefix}"
    )

    step("write an xarray dataset and commit")
    ds = weather()
    session = repo.writable_session("main")
    to_icechunk(ds, session)
    snapshot = session.commit("Add two days of 2 m temperature")
    console.print(
        f"Committed snapshot {snapshot}: {ds.sizes['time']} hours x {ds.sizes['lat']} x {ds.sizes['lon']}"
    )

    step(f'client.get_repo("{ORG}/weather") and read it back')
    reopened = client.get_repo(f"{ORG}/weather")
    back = xr.open_zarr(reopened.readonly_session("main").store, consolidated=False).load()
    xr.testing.assert_identical(back, ds.load())
    console.print(back)
    console.print(
        f"Mean t2m: {float(back.t2m.mean()):.2f} K; identical to what was written: [green]yes[/green]"
    )
    for entry in reopened.ancestry(branch="main"):
        console.print(f"  {entry.id}  {entry.written_at:%Y-%m-%d %H:%M}  {entry.message}")

    step(f'client.list_repos("{ORG}")')
    client.create_repo(f"{ORG}/scratch", metadata={"domain": "testing"})
    table = Table("Name", "Bucket", "Created", "Metadata")
    for r in client.list_repos(ORG):
        table.add_row(
            r.name,
            r.bucket.nickname if r.bucket else "-",
            f"{r.created:%Y-%m-%d %H:%M:%S}",
            str(r.metadata or {}),
        )
    console.print(table)


def main() -> None:
    icechunk.set_logs_filter(
        "error"
    )  # icechunk warns that local directories are single-writer; this is a demo
    os.environ.pop("ARRAYLAKE_SERVER_DATABASE_URL", None)
    token = init_service()
    process = start_service(free_port())
    try:
        main_job(f"http://127.0.0.1:{process.args[-1]}", token)
    finally:
        process.terminate()
        process.wait(10)
    step("done: the service has stopped; its catalog and data are in .demo/")
    data = DATA_DIR.relative_to(ROOT)
    console.print(
        "To look at it in the web app: create a user who signs in with a password, start the service again"
        " and open /app in a browser:\n"
        f"  .venv/bin/arraylake server user create --data-dir {data} --email you@example.com --org {ORG}\n"
        f"  .venv/bin/arraylake server start --data-dir {data}   # then http://127.0.0.1:8321/app"
    )


if __name__ == "__main__":
    main()
