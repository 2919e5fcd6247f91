"""Hand-tuned OpenVINO: the best figure a person could get by trying threads and streams by hand.

The goal "the shipped artifact is within 5% of the best hand-tuned INT8 figure" needs that best
figure from the same run. It is found here with plain OpenVINO calls, not through edge_runtime, so
any knob the runtime forgets to turn shows up as a gap. The artifact as edge_runtime runs it by
default is timed in the same round-robin as the hand-tuned settings, so a busy moment on the box
cannot land on one side of the comparison only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov

from edge_runtime.bundle import Artifact, Bundle
from edge_runtime.measure.throughput import batched_throughput, openvino_throughput
from edge_runtime.measure.timing import LatencyStats, time_calls
from edge_runtime.model import BundleModel

ADIT_DEFAULT = "edge_runtime defaults"


@dataclass(frozen=True)
class SweepPoint:
    artifact: str
    mode: str  # "latency" (batch 1, one request), "throughput" (streams, async requests) or ADIT_DEFAULT
    threads: int | None
    streams: int | None
    p50_ms: float | None
    fps: float
    batch: int = 1


def _hand_tuned(model_path: Path, threads: int) -> Callable[[np.ndarray], object]:
    config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads), "NUM_STREAMS": "1"}
    request = ov.Core().compile_model(str(model_path), "CPU", config).create_infer_request()
    return lambda sample: request.infer({0: sample})


def openvino_sweep(
    bundle: Bundle,
    artifact: Artifact,
    sample: np.ndarray,
    seconds: float,
    threads: list[int],
    streams: list[int],
    repeats: int = 1,
    batches: list[int] | None = None,
) -> list[SweepPoint]:
    """edge_runtime's default against latency over ``threads`` (one stream), then throughput over
    ``streams`` and, through edge_runtime, over synchronous ``batches``."""
    model_path = bundle.path_of(artifact)
    ours = BundleModel(bundle, artifact)
    contenders: dict[tuple[str, int | None], Callable[[np.ndarray], object]] = {
        (ADIT_DEFAULT, None): ours.infer,
        **{("latency", count): _hand_tuned(model_path, count) for count in threads},
    }
    samples: dict[tuple[str, int | None], list[float]] = {key: [] for key in contenders}
    for _ in range(repeats):
        for key, infer in contenders.items():
            samples[key] += time_calls(lambda f=infer: f(sample), min_seconds=seconds)
    points = []
    for (mode, count), values in samples.items():
        stats = LatencyStats.from_samples(values)
        points.append(
            SweepPoint(
                artifact.key,
                mode,
                count,
                1 if count else None,
                round(stats.p50_ms, 3),
                round(1000 / stats.mean_ms, 1),
            )
        )
    for count in streams:
        result = openvino_throughput(model_path, sample, seconds, streams=count)
        points.append(SweepPoint(artifact.key, "throughput", None, count, None, round(result.fps, 1)))
    for size in batches or []:
        result = batched_throughput(ours.infer, sample, size, seconds)
        points.append(SweepPoint(artifact.key, "batch", None, None, None, round(result.fps, 1), size))
    return points


def best_latency(points: list[SweepPoint]) -> SweepPoint | None:
    latency = [p for p in points if p.mode == "latency" and p.p50_ms is not None]
    return min(latency, key=lambda p: p.p50_ms) if latency else None


def adit_default(points: list[SweepPoint]) -> SweepPoint | None:
    return next((p for p in points if p.mode == ADIT_DEFAULT), None)
