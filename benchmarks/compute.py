"""Compute services: what serving a repo over EDR, OGC API Tiles, DAP2 and Zarr costs, against reading the
same data with xarray and Icechunk directly, in one run and on the same dataset.

Deployments are enabled through the control API and reached through the service's URL (the proxy and the
data plane process both count), as a user reaches them:

- EDR position, warm: median latency of a CoverageJSON time series at a point, vs the same nearest-point
  selection in xarray on the same open dataset (both read the same chunks; both warm).
- Tiles: the first tile of a freshly started deployment (cold: imports done, JIT and caches not), then p50
  and p99 of 50 different tiles.
- DAP2 and Zarr over HTTP: read throughput of one variable vs reading it with Icechunk + xarray directly
  (ratio of medians, interleaved).
- Memory: how much the resident memory of the DAP2 deployment's processes grows while a client downloads
  about 1 GiB through `.dods`. DAP2 sends values in C order, so a download holds one "chunk row" at a time
  (the source chunks that span one chunk's length along the first dimension: reading less would read each
  chunk several times), capped by the SKU's ``max_response_bytes``: the bound is that row plus
  ``MEMORY_OVERHEAD``, whatever the size of the download.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import psutil
import xarray as xr

from arraylake import Client
from benchmarks.stats import Result, interleaved, median, percentile, timed

GiB = 1024**3
MEMORY_OVERHEAD = 128 * 2**20
"""What a DAP2 download may add to the deployment's memory beyond one chunk row: the pieces in flight."""
TIME_CHUNK = 64


def _dataset(nt: int, ny: int, nx: int) -> xr.Dataset:
    """A CF dataset, ``air`` float32 on time x lat x lon, in chunks of 4 MiB or less that span time as well as
    space (64 x 90 x 180), so that a time series at a point reads a few chunks; built lazily with Dask."""
    import dask.array as da
    import pandas as pd

    air = (
        da.random.default_rng(0).random(
            (nt, ny, nx), chunks=(min(nt, TIME_CHUNK), min(ny, 90), min(nx, 180)), dtype="float32"
        )
        * 60
        + 230
    )
    return xr.Dataset(
        {"air": (("time", "lat", "lon"), air, {"units": "K", "standard_name": "air_temperature"})},
        coords={
            "time": ("time", pd.date_range("2000-01-01", periods=nt, freq="D"), {"axis": "T"}),
            "lat": (
                "lat",
                np.linspace(89.75, -89.75, ny),
                {"axis": "Y", "standard_name": "latitude", "units": "degrees_north"},
            ),
            "lon": (
                "lon",
                np.linspace(-179.75, 179.75, nx),
                {"axis": "X", "standard_name": "longitude", "units": "degrees_east"},
            ),
        },
    )


def _commit(client: Client, name: str, ds: xr.Dataset) -> None:
    repo = client.create_repo(name)
    session = repo.writable_session("main")
    ds.to_zarr(session.store, mode="w", consolidated=False, zarr_format=3)
    session.commit("benchmark data")


def _enable(http: httpx.Client, org: str, protocol: str, name: str) -> str:
    """Enable a deployment, wait until it is available; return its data URL base."""
    http.post(
        f"/compute/orgs/{org}/services",
        json={
            "service_type": protocol,
            "org": org,
            "is_public": False,
            "deployment_name": name,
            "sku_code": "m",
        },
    ).raise_for_status()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        info = http.get(f"/compute/orgs/{org}/services/{name}").raise_for_status().json()
        if info["status"] == "available":
            return str(info["url"])
        if info["status"] == "error":
            raise RuntimeError(f"deployment {name} failed: {info.get('status_detail')}")
        time.sleep(0.2)
    raise TimeoutError(f"deployment {name} did not become available")


def _deployment_processes(name: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "arraylake.dataplane" in " ".join(proc.info["cmdline"] or []) and (
                proc.environ().get("ARRAYLAKE_DATAPLANE_DEPLOYMENT") == name
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _rss(procs: list[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _download(http: httpx.Client, url: str) -> int:
    size = 0
    with http.stream("GET", url, timeout=600) as response:
        response.raise_for_status()
        for block in response.iter_bytes(1 << 20):
            size += len(block)
    return size


def _edr(http: httpx.Client, base: str, ds: xr.Dataset, rounds: int) -> list[Result]:
    points = [
        (float(x), float(y)) for x, y in zip(np.linspace(-170, 170, 7), np.linspace(-80, 80, 7), strict=True)
    ]
    url = f"{base}/edr/position"

    def over_http(i: int) -> float:
        x, y = points[i % len(points)]
        return timed(
            lambda: http.get(
                url, params={"coords": f"POINT({x} {y})", "parameter-name": "air"}
            ).raise_for_status()
        )

    def in_xarray(i: int) -> float:
        x, y = points[i % len(points)]
        return timed(lambda: ds.air.sel(lon=x, lat=y, method="nearest").values)

    counter = iter(range(10**9))
    http_arm: Callable[[], float] = lambda: over_http(next(counter))  # noqa: E731
    xr_counter = iter(range(10**9))
    xr_arm: Callable[[], float] = lambda: in_xarray(next(xr_counter))  # noqa: E731
    interleaved(http_arm, xr_arm, rounds=len(points))  # warm: every point once
    served, direct = interleaved(http_arm, xr_arm, rounds=rounds)
    return [
        Result(
            "compute",
            "EDR position, warm (CoverageJSON over HTTP)",
            median(served) * 1000,
            "ms",
            f"xarray alone: {median(direct) * 1000:.1f} ms",
            None,
            {
                "edr_ms": median(served) * 1000,
                "xarray_ms": median(direct) * 1000,
                "p99_edr_ms": percentile(served, 99) * 1000,
                "ratio": median(served) / median(direct),
            },
        )
    ]


def _tiles(http: httpx.Client, base: str) -> list[Result]:
    def tile(z: int, x: int, y: int) -> float:
        return timed(
            lambda: http.get(
                f"{base}/tiles/WebMercatorQuad/{z}/{y}/{x}",
                params={
                    "variables": "air",
                    "f": "png",
                    "colorscalerange": "230,290",
                    "style": "raster/viridis",
                },
                timeout=120,
            ).raise_for_status()
        )

    cold = tile(0, 0, 0)
    coords = [(z, x, y) for z in (2, 3) for x in range(2**z) for y in range(2**z)][:50]
    warm = [tile(*c) for c in coords]
    return [
        Result("compute", "Tiles, first tile of a fresh deployment", cold * 1000, "ms", "cold (JIT)", None),
        Result(
            "compute",
            "Tiles, 50 tiles p50",
            median(warm) * 1000,
            "ms",
            f"p99 {percentile(warm, 99) * 1000:.0f} ms",
            None,
            {"p50_ms": median(warm) * 1000, "p99_ms": percentile(warm, 99) * 1000, "tiles": len(warm)},
        ),
    ]


def _throughput(
    label: str, served: Callable[[], Any], direct: Callable[[], Any], nbytes: int, rounds: int
) -> Result:
    served(), direct()  # warm both (connections, caches of chunk references)
    served_s, direct_s = interleaved(lambda: timed(served), lambda: timed(direct), rounds=rounds)
    mib = nbytes / 2**20
    ratio = median(direct_s) / median(served_s)
    return Result(
        "compute",
        f"{label} read throughput vs Icechunk direct",
        ratio,
        "x",
        f"{mib / median(served_s):.0f} vs {mib / median(direct_s):.0f} MiB/s ({mib:.0f} MiB)",
        None,
        {"served_mib_s": mib / median(served_s), "direct_mib_s": mib / median(direct_s), "mib": mib},
    )


def run(client: Client, org: str, quick: bool) -> list[Result]:
    nt, ny, nx = (64, 360, 720) if quick else (256, 720, 1440)  # ~63 MiB or ~1 GiB of float32
    rounds = 3 if quick else 5
    name = f"{org}/compute-bench"
    _commit(client, name, _dataset(nt, ny, nx))
    direct = xr.open_zarr(
        client.get_repo(name, read_only=True).readonly_session("main").store, consolidated=False, chunks={}
    )
    results: list[Result] = []
    auth = (org, client.token)
    with (
        httpx.Client(
            base_url=client.service_uri, headers={"authorization": f"Bearer {client.token}"}, timeout=120
        ) as api,
        httpx.Client(auth=auth, timeout=120) as data,
    ):
        bases = {p: _enable(api, org, p, f"bench-{p}") for p in ("edr", "tiles", "dap2", "zarr")}
        prefix = "compute-bench/main"
        results += _edr(data, f"{bases['edr']}/{org}/{prefix}", direct, rounds=20 if quick else 60)
        results += _tiles(data, f"{bases['tiles']}/{org}/{prefix}")

        part = slice(0, max(1, nt // 4))
        part_bytes = (part.stop - part.start) * ny * nx * 4
        hyperslab = f"[{part.start}:1:{part.stop - 1}][0:1:{ny - 1}][0:1:{nx - 1}]"
        dods = f"{bases['dap2']}/{org}/{prefix}/opendap.dods?air{hyperslab}"
        results.append(
            _throughput(
                "DAP2",
                lambda: _download(data, dods),
                lambda: direct.air.isel(time=part).values,
                part_bytes,
                rounds,
            )
        )
        zarr_url = f"{bases['zarr']}/{org}/{prefix}/zarr"
        storage_options = {
            "client_kwargs": {"auth": None},
            "headers": {"authorization": f"Bearer {client.token}"},
        }
        served_ds = xr.open_zarr(zarr_url, storage_options=storage_options)
        results.append(
            _throughput(
                "Zarr over HTTP",
                lambda: served_ds.air.isel(time=part).values,
                lambda: direct.air.isel(time=part).values,
                part_bytes,
                rounds,
            )
        )

        procs = _deployment_processes("bench-dap2")
        whole = f"{bases['dap2']}/{org}/{prefix}/opendap.dods?air"
        peak = [_rss(procs)]
        idle = peak[0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak.append(_rss(procs))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        size = _download(data, whole)
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        grew = max(peak) - idle
        bound = min(TIME_CHUNK, nt) * ny * nx * 4 + MEMORY_OVERHEAD
        results.append(
            Result(
                "compute",
                f"DAP2 download of {size / GiB:.2f} GiB: memory growth of the deployment",
                grew / 2**20,
                "MiB",
                f"< one chunk row + {MEMORY_OVERHEAD >> 20} MiB ({bound >> 20} MiB)",
                grew < bound,
                {
                    "download_bytes": size,
                    "idle_rss_mib": idle / 2**20,
                    "peak_rss_mib": max(peak) / 2**20,
                    "seconds": elapsed,
                    "mib_s": size / 2**20 / elapsed,
                    "processes": len(procs),
                },
            )
        )
    return results
