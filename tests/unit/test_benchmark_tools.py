"""The benchmarks' own arithmetic: wrk output parsing, percentiles, interleaving."""

from __future__ import annotations

import pytest

from benchmarks.load import parse
from benchmarks.stats import interleaved, paired_ratio, percentile

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8321/repos/org/repo
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.10ms    3.01ms  48.20ms   80.00%
    Req/Sec     2.10k   150.00     2.40k    70.00%
  Latency Distribution
     50%   11.50ms
     75%   13.00ms
     90%   15.00ms
     99%  950.00us
  20854 requests in 5.00s, 12.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   4170.80
Transfer/sec:      2.40MB
"""


def test_parse_reads_throughput_percentiles_and_failures() -> None:
    load = parse(WRK_OUTPUT, 50)
    assert load.requests_per_s == pytest.approx(4170.8)
    assert load.p50_ms == pytest.approx(11.5)
    assert load.p99_ms == pytest.approx(0.95)  # microseconds are converted
    assert load.requests == 20854
    assert load.failures == 4 + 2 + 1


def test_parse_refuses_output_without_figures() -> None:
    with pytest.raises(RuntimeError, match="unexpected wrk output"):
        parse("unable to connect to 127.0.0.1:1 Connection refused\n", 10)


def test_percentile_and_interleaving() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.0, abs=1)
    assert percentile(values, 99) == 99.0
    calls: list[str] = []
    a, b, c = interleaved(
        lambda: calls.append("a") or 1.0,
        lambda: calls.append("b") or 2.0,
        lambda: calls.append("c") or 3.0,
        rounds=2,
    )
    assert calls == ["a", "b", "c", "b", "c", "a"]  # who goes first rotates
    assert (a, b, c) == ([1.0, 1.0], [2.0, 2.0], [3.0, 3.0])
    # each round's pair is compared, then the median taken: a slow round does not skew the ratio
    assert paired_ratio([2.0, 2.0, 9.0], [1.0, 1.0, 3.0]) == 2.0
