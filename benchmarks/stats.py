"""Timing a callable and summarising the samples; the same percentiles everywhere in adit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    samples: int

    @classmethod
    def from_samples(cls, samples_ms: list[float] | np.ndarray) -> LatencyStats:
        values = np.asarray(samples_ms, dtype=np.float64)
        if values.size == 0:
            raise ValueError("no latency samples")
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        return cls(float(p50), float(p90), float(p99), float(values.mean()), float(values.min()), float(values.max()), int(values.size))


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
