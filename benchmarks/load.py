"""HTTP load with ``wrk``: requests/s and latency percentiles at a given number of concurrent connections."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Load:
    """What one ``wrk`` run measured."""

    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install wrk); `make bench` installs it")
    return found


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def parse(output: str, connections: int) -> Load:
    """The figures of ``wrk --latency`` output; a run without them is an error that shows the output."""
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
        total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    except AttributeError:
        raise RuntimeError(f"unexpected wrk output:\n{output}") from None
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    failures = int(non_2xx.group(1)) if non_2xx else 0
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    return Load(connections, rps, p50, p99, total, failures)


def wrk(url: str, token: str, connections: int, seconds: float) -> Load:
    """Hammer ``url`` (GET, bearer ``token``) with ``connections`` keep-alive connections for ``seconds``."""
    threads = min(connections, 2)
    args = [
        wrk_binary(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",  # wrk drops answers slower than its 2 s default from the latencies: keep them
        "30s",
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]
    finished = subprocess.run(args, capture_output=True, text=True, check=True, timeout=seconds + 60)
    return parse(finished.stdout, connections)
