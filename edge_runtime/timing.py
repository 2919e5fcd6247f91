"""Latency statistics and per-stage timers in milliseconds: the one implementation in adit.

``LatencyStats`` summarises samples (count, mean, p50/p90/p99, min, max) for the daemon's
``/metrics`` and ``/status`` and for every benchmark. Every stage of the pipeline (decode,
preprocess, infer, postprocess, rules, delivery) records into the same ``StageTimers``, so the
latency a benchmark reports and the latency a site's dashboard shows are measured by the same code
in the same unit. Capture threads record decode times while the pipeline records the rest, hence
the lock. Durations come from an injectable monotonic clock, so tests advance time, not sleep.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

# frame_age: capture to the start of inference (how stale the picture the model sees is);
# capture_to_event: capture to the event committed in the outbox (on disk, fsync'ed) and the sinks
# woken: what a site's alarm waits for; commit: one group commit of the outbox's writer thread;
# delivery: the inference thread handing its events over (queued for that writer);
# site_loop: drift, hard-example selection and shadow hand-off on the inference thread (siteloop).
Stage = Literal[
    "decode",
    "preprocess",
    "infer",
    "postprocess",
    "rules",
    "site_loop",
    "delivery",
    "commit",
    "frame_age",
    "capture_to_event",
]
STAGES: tuple[Stage, ...] = get_args(Stage)
# Histogram bucket bounds (ms) for /metrics; counted over every sample, like the count and the total.
BUCKETS_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
# Percentiles come from the most recent samples, so a daemon running for months keeps a bounded
# memory; the count and the total cover every sample (what a Prometheus summary needs).
DEFAULT_WINDOW = 10_000


@dataclass(frozen=True)
class LatencyStats:
    """Latency over samples, in milliseconds rounded to the microsecond (finer digits are timer noise).

    ``count`` and ``total_ms`` may cover more samples than the percentiles do (a daemon keeps only
    the most recent ones for those).
    """

    count: int
    total_ms: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    max_ms: float

    @classmethod
    def from_samples(
        cls, samples_ms: Sequence[float] | np.ndarray, count: int | None = None, total_ms: float | None = None
    ) -> LatencyStats:
        values = np.asarray(samples_ms, dtype=np.float64)
        if values.size == 0:
            raise ValueError("no latency samples")
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        return cls(
            count=int(values.size) if count is None else count,
            total_ms=_us(values.sum() if total_ms is None else total_ms),
            mean_ms=_us(values.mean()),
            p50_ms=_us(p50),
            p90_ms=_us(p90),
            p99_ms=_us(p99),
            min_ms=_us(values.min()),
            max_ms=_us(values.max()),
        )

    @classmethod
    def maybe(cls, samples_ms: Sequence[float] | np.ndarray) -> LatencyStats | None:
        """None for no samples (e.g. no event happened), the stats otherwise."""
        return cls.from_samples(samples_ms) if len(samples_ms) else None


class StageTimers:
    """Collects millisecond samples per stage; thread-safe."""

    def __init__(self, window: int = DEFAULT_WINDOW, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: dict[Stage, deque[float]] = {stage: deque(maxlen=window) for stage in STAGES}
        self._count: dict[Stage, int] = dict.fromkeys(STAGES, 0)
        self._total: dict[Stage, float] = dict.fromkeys(STAGES, 0.0)
        self._buckets: dict[Stage, np.ndarray] = {
            stage: np.zeros(len(BUCKETS_MS), dtype=np.int64) for stage in STAGES
        }

    def record(self, stage: Stage, milliseconds: float) -> None:
        if stage not in self._samples:
            raise ValueError(f"unknown stage {stage!r}; the stages are: {', '.join(STAGES)}")
        with self._lock:
            self._samples[stage].append(milliseconds)
            self._count[stage] += 1
            self._total[stage] += milliseconds
            self._buckets[stage][np.searchsorted(BUCKETS_MS, milliseconds) :] += 1

    @contextmanager
    def measure(self, stage: Stage) -> Iterator[None]:
        """Time the ``with`` block into ``stage``."""
        start = self._clock()
        try:
            yield
        finally:
            self.record(stage, (self._clock() - start) * 1000.0)

    def stats(self, stage: Stage) -> LatencyStats | None:
        """Percentiles of ``stage``, or None when it has no samples yet."""
        with self._lock:
            samples = np.fromiter(self._samples[stage], dtype=np.float64)
            count, total = self._count[stage], self._total[stage]
        if not len(samples):
            return None
        return LatencyStats.from_samples(samples, count, total)

    def histogram(self, stage: Stage) -> tuple[list[int], int, float]:
        """Cumulative counts per ``BUCKETS_MS`` bound, the count and the total (ms) of all samples."""
        with self._lock:
            return self._buckets[stage].tolist(), self._count[stage], self._total[stage]

    def summary(self) -> dict[str, LatencyStats]:
        """Stats of every stage that has samples, in pipeline order."""
        return {stage: stats for stage in STAGES if (stats := self.stats(stage)) is not None}


def _us(milliseconds: float) -> float:
    """Milliseconds rounded to the microsecond: finer digits are timer noise."""
    return round(float(milliseconds), 3)
