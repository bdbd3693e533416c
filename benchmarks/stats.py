"""Small statistics and reporting helpers for the benchmarks."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True, width=150)


@dataclass
class Result:
    """One figure: what was measured, its median (and spread), its target, and whether it meets it."""

    benchmark: str
    case: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    details: dict[str, Any] = field(default_factory=dict)


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(*arms: Callable[[], float], rounds: int) -> list[list[float]]:
    """Run the arms in turn, rotating who goes first each round (A B C, B C A, C A B, ...), so that drift in
    the machine's speed, and what one arm leaves behind for the next (dirty pages, warm caches), hit them
    all alike."""
    samples: list[list[float]] = [[] for _ in arms]
    for round_number in range(rounds):
        for step in range(len(arms)):
            index = (round_number + step) % len(arms)
            samples[index].append(arms[index]())
    return samples


def paired_ratio(numerators: list[float], denominators: list[float]) -> float:
    """The median of the per-round ratios: each round's pair ran back to back, in the same conditions."""
    return median([a / b for a, b in zip(numerators, denominators, strict=True)])


def report(results: list[Result], out: Path) -> None:
    table = Table("benchmark", "case", "median", "target", "met", title="Arraylake benchmarks")
    for r in results:
        met = "" if r.ok is None else ("yes" if r.ok else "NO")
        table.add_row(r.benchmark, r.case, f"{r.value:,.2f} {r.unit}", r.target, met)
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([asdict(r) for r in results], indent=2))
    console.print(f"Results written to {out}")
