"""Hand-tuned OpenVINO: the best figure a person could get by trying threads and streams by hand.

The goal "the shipped artifact is within 5% of the best hand-tuned INT8 figure" needs that best
figure from the same run. It is found here with plain OpenVINO calls, not through edge_runtime, so
any knob the runtime forgets to turn shows up as a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov

from benchmarks.stats import LatencyStats, time_calls
from benchmarks.throughput import openvino_throughput


@dataclass(frozen=True)
class SweepPoint:
    artifact: str
    mode: str  # "latency" (batch 1, one request) or "throughput" (streams, async requests)
    threads: int | None
    streams: int | None
    p50_ms: float | None
    fps: float


def latency_point(artifact: str, model_path: Path, sample: np.ndarray, threads: int, seconds: float) -> SweepPoint:
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads), "NUM_STREAMS": "1"}
    request = ov.Core().compile_model(str(model_path), "CPU", config).create_infer_request()
    stats = LatencyStats.from_samples(time_calls(lambda: request.infer({0: sample}), min_seconds=seconds))
    return SweepPoint(artifact, "latency", threads, 1, round(stats.p50_ms, 3), round(1000 / stats.mean_ms, 1))


def openvino_sweep(
    artifact: str, model_path: Path, sample: np.ndarray, seconds: float, threads: list[int], streams: list[int]
) -> list[SweepPoint]:
    """Latency over ``threads`` (one stream), then throughput over ``streams``."""
    points = [latency_point(artifact, model_path, sample, count, seconds) for count in threads]
    for count in streams:
        result = openvino_throughput(model_path, sample, seconds, streams=count)
        points.append(SweepPoint(artifact, "throughput", None, count, None, round(result.fps, 1)))
    return points


def best_latency(points: list[SweepPoint]) -> SweepPoint | None:
    latency = [p for p in points if p.mode == "latency" and p.p50_ms is not None]
    return min(latency, key=lambda p: p.p50_ms) if latency else None
