"""Timing a callable for the benchmarks; the statistics are edge_runtime's (``LatencyStats``), the
same percentiles the daemon reports."""

from __future__ import annotations

import time
from collections.abc import Callable

from edge_runtime.timing import LatencyStats

__all__ = ["LatencyStats", "time_calls"]


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
