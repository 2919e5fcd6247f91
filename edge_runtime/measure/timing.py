"""Timing a callable for the benchmarks; the statistics are edge_runtime's (``LatencyStats``), the
same percentiles the daemon reports."""

from __future__ import annotations

import time
from collections.abc import Callable

from edge_runtime.timing import LatencyStats

__all__ = ["LatencyStats", "p50_p99", "time_calls"]


def p50_p99(values_ms: list[float]) -> dict[str, float | None]:
    """The median and the 99th percentile of ``values_ms`` to 0.01 ms, as results.json keeps them
    (None for no samples: e.g. no event happened)."""
    stats = LatencyStats.maybe(values_ms)
    if stats is None:
        return {"p50": None, "p99": None}
    return {"p50": round(stats.p50_ms, 2), "p99": round(stats.p99_ms, 2)}


def time_calls(
    fn: Callable[[], object],
    *,
    warmup: int = 10,
    min_iterations: int = 50,
    min_seconds: float = 2.0,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Call ``fn`` after warm-up until both the iteration and time floors are met; return ms per call."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    started = clock()
    while len(samples) < min_iterations or clock() - started < min_seconds:
        before = clock()
        fn()
        samples.append((clock() - before) * 1000.0)
    return samples
