"""Throughput mode, measured separately from latency: how many frames per second a box can take.

OpenVINO's THROUGHPUT hint splits the cores into streams and is fed by as many asynchronous
requests as it asks for; ONNX Runtime and PyTorch have no streams, so they get a batch on all
threads. Either way the figure is frames per second over at least ``min_seconds`` after warm-up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov

WARMUP_ROUNDS = 3


@dataclass(frozen=True)
class Throughput:
    fps: float
    setting: str  # how it was run, for the report: "2 streams, 2 async requests" / "batch 8"


def batched_throughput(
    infer: Callable[[np.ndarray], object], sample: np.ndarray, batch: int, min_seconds: float
) -> Throughput:
    """Frames per second of synchronous calls on a batch of ``batch`` copies of ``sample``."""
    frames = np.repeat(sample, batch, axis=0)
    for _ in range(WARMUP_ROUNDS):
        infer(frames)
    calls, started = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - started < min_seconds:
        infer(frames)
        calls += 1
    return Throughput(calls * batch / (time.perf_counter() - started), f"batch {batch}, sync")


def openvino_throughput(
    model_path: Path,
    sample: np.ndarray,
    min_seconds: float,
    *,
    precision_hint: str | None = None,
    streams: int | None = None,
    threads: int | None = None,
) -> Throughput:
    """Frames per second with the THROUGHPUT hint and an AsyncInferQueue of the optimal size."""
    config: dict[str, str] = {"PERFORMANCE_HINT": "THROUGHPUT"}
    if precision_hint:
        config["INFERENCE_PRECISION_HINT"] = precision_hint
    if streams:
        config["NUM_STREAMS"] = str(streams)
    if threads:
        config["INFERENCE_NUM_THREADS"] = str(threads)
    compiled = ov.Core().compile_model(str(model_path), "CPU", config)
    requests = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    used_streams = int(compiled.get_property("NUM_STREAMS"))
    queue = ov.AsyncInferQueue(compiled, requests)
    for _ in range(WARMUP_ROUNDS * requests):
        queue.start_async({0: sample})
    queue.wait_all()
    submitted, started = 0, time.perf_counter()
    while submitted < 3 * requests or time.perf_counter() - started < min_seconds:
        queue.start_async({0: sample})  # blocks while every request is busy
        submitted += 1
    queue.wait_all()
    fps = submitted / (time.perf_counter() - started)
    return Throughput(fps, f"{used_streams} streams, {requests} async requests")
