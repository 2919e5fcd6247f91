"""The model benchmark: PyTorch eager FP32 (the baseline) against every artifact of a bundle.

Every row is measured in the same process and run, on the same real preprocessed image, and its
accuracy is measured on the held-out split through edge_runtime, so rows compare like for like.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from benchmarks.stats import LatencyStats, time_calls
from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import Artifact, Bundle
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import preprocess, read_image
from export.checkpoint import load_checkpoint
from export.evaluate import evaluate_classifier
from train.data import Sample, list_class_folders
from train.metrics import classification_report

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Row:
    name: str
    format: str
    precision: str
    runtime_precision: str
    backend: str
    status: str
    size_bytes: int
    load_s: float
    top1: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    throughput_fps: float
    speedup_vs_pytorch: float = 1.0


@dataclass(frozen=True)
class Variant:
    """One way to run an artifact: which backend, with which precision forced."""

    artifact: Artifact
    precision_hint: str | None
    label: str


def variants(bundle: Bundle) -> list[Variant]:
    """ONNX artifacts on ONNX Runtime; OpenVINO FP32 both forced to f32 and at the CPU's default."""
    rows = []
    for artifact in bundle.manifest.artifacts:
        if artifact.format == "openvino" and artifact.precision == "fp32":
            rows.append(Variant(artifact, "f32", f"{artifact.key} (forced f32)"))
            rows.append(Variant(artifact, None, f"{artifact.key} (CPU default precision)"))
        else:
            rows.append(Variant(artifact, None, artifact.key))
    return rows


def _row(name: str, fmt: str, precision: str, runtime_precision: str, backend: str, status: str, size: int,
         load_s: float, top1: float, stats: LatencyStats) -> Row:
    return Row(name, fmt, precision, runtime_precision, backend, status, size, round(load_s, 3), top1,
               stats.p50_ms, stats.p90_ms, stats.p99_ms, stats.mean_ms, stats.min_ms, stats.max_ms, 1000.0 / stats.mean_ms)


def bench_pytorch(checkpoint_path: Path, sample: np.ndarray, samples: list[Sample], min_seconds: float) -> Row:
    started = time.perf_counter()
    checkpoint = load_checkpoint(checkpoint_path)
    model = checkpoint.model.eval()
    load_s = time.perf_counter() - started
    tensor = torch.from_numpy(sample)
    with torch.inference_mode():
        stats = LatencyStats.from_samples(time_calls(lambda: model(tensor), min_seconds=min_seconds))
        predictions = [int(model(torch.from_numpy(preprocess(read_image(s.path), checkpoint.input))).argmax()) for s in samples]
    top1 = classification_report(np.array([s.label for s in samples]), np.array(predictions), checkpoint.classes)["top1"]
    size = checkpoint_path.stat().st_size
    return _row("pytorch-fp32 (eager)", "pytorch", "fp32", "fp32", "pytorch", "baseline", size, load_s, top1, stats)


def bench_variant(bundle: Bundle, variant: Variant, sample: np.ndarray, samples: list[Sample], min_seconds: float) -> Row:
    started = time.perf_counter()
    model = BundleModel(bundle, variant.artifact, options=BackendOptions(precision_hint=variant.precision_hint))
    model.infer(sample)
    load_s = time.perf_counter() - started
    stats = LatencyStats.from_samples(time_calls(lambda: model.infer(sample), min_seconds=min_seconds))
    top1 = evaluate_classifier(model, samples)["top1"]
    artifact = variant.artifact
    return _row(variant.label, artifact.format, artifact.precision, model.runtime_precision, model.backend_name,
                artifact.status, artifact.total_bytes, load_s, top1, stats)


def run_model_benchmark(bundle: Bundle, checkpoint: Path | None, data_root: Path, min_seconds: float = 2.0) -> list[Row]:
    classes, samples = list_class_folders(data_root / "test", bundle.manifest.classes)
    sample = preprocess(read_image(samples[0].path), bundle.manifest.input)
    rows = []
    if checkpoint is not None:
        rows.append(bench_pytorch(checkpoint, sample, samples, min_seconds))
        log.info("%s: p50 %.2f ms", rows[-1].name, rows[-1].p50_ms)
    for variant in variants(bundle):
        rows.append(bench_variant(bundle, variant, sample, samples, min_seconds))
        log.info("%s: p50 %.2f ms, top-1 %.4f", rows[-1].name, rows[-1].p50_ms, rows[-1].top1)
    baseline = rows[0].p50_ms if checkpoint is not None else None
    if baseline:
        rows = [Row(**{**asdict(r), "speedup_vs_pytorch": baseline / r.p50_ms}) for r in rows]
    return rows
