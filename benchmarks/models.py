"""The model benchmark: PyTorch eager FP32 (the baseline) against every artifact of a bundle.

Every row is measured in the same process and run, on the same real preprocessed image, and its
accuracy is measured on the held-out split through edge_runtime, so rows compare like for like.
Latency repeats go round-robin over the loaded rows, so a noisy minute on the box smears over all
of them instead of flattering one.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.heldout import held_out
from edge_runtime.bundle import Artifact, Bundle
from edge_runtime.measure.artifacts import BenchSettings, load_timed, throughput_of
from edge_runtime.measure.memory import peak_rss_delta
from edge_runtime.measure.throughput import Throughput, batched_throughput
from edge_runtime.measure.timing import LatencyStats, time_calls
from edge_runtime.model import Predictor, resolve_precision
from train.checkpoint import read_checkpoint
from train.evaluation import EvalReport, evaluate, torch_infer
from train.task import Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subject:
    """What a row measures: the artifact and how it ran."""

    name: str
    format: str
    precision: str
    runtime_precision: str
    backend: str
    status: str
    size_bytes: int
    load_s: float


@dataclass(frozen=True)
class Row(Subject):
    top1: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    throughput_fps: float  # throughput mode, see throughput_setting
    speedup_vs_pytorch: float = 1.0
    throughput_setting: str = ""
    peak_rss_mb: float | None = None  # peak RSS growth while loading and first running the row
    repeats: int = 1
    p50_min_ms: float = 0.0  # spread of the per-repeat medians
    p50_max_ms: float = 0.0
    recall: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass(frozen=True)
class Variant:
    """One way to run an artifact: which backend, with which precision forced."""

    artifact: Artifact
    precision_hint: str | None
    label: str
    comparison: bool = False  # not how the device runs it: shown beside, never recommended


@dataclass(frozen=True)
class Loaded(Subject):
    """A row's model, loaded once; latency is timed later, round-robin with the other rows."""

    peak_rss_mb: float | None
    infer: Callable[[np.ndarray], object]
    report: EvalReport
    throughput: Throughput
    note: str = ""
    latency: list[list[float]] = field(default_factory=list)  # ms samples, one list per repeat


def variants(bundle: Bundle) -> list[Variant]:
    """Every artifact as the device runs it (at the precision its gate measured); OpenVINO FP32 also at
    the other of forced f32 and the CPU's default precision (bf16 where the CPU has it), for comparison."""
    rows = []
    for artifact in bundle.manifest.artifacts:
        hint = resolve_precision("auto", artifact)
        if artifact.format == "openvino" and artifact.precision == "fp32":
            forced = hint == "f32"
            rows.append(
                Variant(artifact, hint, f"{artifact.key} ({'forced f32' if forced else 'CPU default'})")
            )
            other = None if forced else "f32"
            rows.append(
                Variant(
                    artifact, other, f"{artifact.key} ({'CPU default' if forced else 'forced f32'})", True
                )
            )
        else:
            rows.append(Variant(artifact, hint, artifact.key))
    return rows


def load_pytorch(
    checkpoint_path: Path, sample: np.ndarray, task: Task, samples: Sequence[Any], settings: BenchSettings
) -> Loaded:
    with peak_rss_delta() as memory:
        started = time.perf_counter()
        checkpoint = read_checkpoint(checkpoint_path)
        model = task.load(checkpoint)
        with torch.inference_mode():
            model(torch.from_numpy(sample))
        load_s = time.perf_counter() - started

    def infer(batch: np.ndarray) -> object:
        with torch.inference_mode():
            return model(torch.from_numpy(batch))

    predictor = Predictor(
        checkpoint.meta.interface, torch_infer(model, torch.device("cpu")), name=str(checkpoint_path)
    )
    return Loaded(
        "pytorch-fp32 (eager)",
        "pytorch",
        "fp32",
        "fp32",
        "pytorch",
        "baseline",
        checkpoint_path.stat().st_size,
        load_s,
        memory.delta_mb,
        infer,
        evaluate(task, predictor, samples),
        batched_throughput(infer, sample, settings.batch, settings.seconds),
    )


def load_variant(
    bundle: Bundle,
    variant: Variant,
    sample: np.ndarray,
    task: Task,
    samples: Sequence[Any],
    settings: BenchSettings,
) -> Loaded:
    artifact = variant.artifact
    timed = load_timed(bundle, artifact, variant.precision_hint, sample, settings.threads)
    model = timed.model
    name, note = variant.label, ""
    if artifact.format == "openvino" and variant.precision_hint != "f32" and artifact.precision == "fp32":
        bf16 = model.runtime_precision == "bf16"
        name = f"{artifact.key} (CPU default: {model.runtime_precision})"
        note = "bf16 where the CPU has it" if bf16 else "this CPU has no bf16, so OpenVINO's default is f32"
    if variant.comparison:
        note = f"{note}; not how the device runs it (the gate measured {artifact.runtime_precision})".lstrip(
            "; "
        )
    throughput = throughput_of(timed, bundle, variant.precision_hint, sample, settings)
    return Loaded(
        name,
        artifact.format,
        artifact.precision,
        model.runtime_precision,
        model.backend_name,
        "comparison" if variant.comparison else artifact.status,
        artifact.total_bytes,
        timed.load_s,
        timed.peak_rss_mb,
        model.infer,
        evaluate(task, model, samples),
        throughput,
        note,
    )


def load_cv2(
    bundle: Bundle, sample: np.ndarray, task: Task, samples: Sequence[Any], settings: BenchSettings
) -> Loaded | None:
    """OpenCV's own DNN module on the FP32 ONNX file: a fallback runtime some sites already have."""
    import cv2

    artifact = next((a for a in bundle.manifest.artifacts if a.key == "onnx-fp32"), None)
    if artifact is None:
        return None
    try:
        with peak_rss_delta() as memory:
            started = time.perf_counter()
            net = cv2.dnn.readNetFromONNX(str(bundle.path_of(artifact)))

            def infer(batch: np.ndarray) -> object:
                net.setInput(batch)
                return net.forward()

            infer(sample)
            load_s = time.perf_counter() - started
    except cv2.error as exc:  # OpenCV's importer lags behind ONNX opsets; a missing row is not an error
        log.warning("cv2.dnn cannot run %s: %s", artifact.key, exc)
        return None
    predictor = Predictor(bundle.manifest, lambda batch: [np.asarray(infer(batch))], name="cv2.dnn")
    return Loaded(
        "onnx-fp32 (cv2.dnn)",
        "onnx",
        "fp32",
        "fp32",
        "cv2.dnn",
        artifact.status,
        artifact.total_bytes,
        load_s,
        memory.delta_mb,
        infer,
        evaluate(task, predictor, samples),
        batched_throughput(infer, sample, 1, settings.seconds),
    )


def _to_row(loaded: Loaded) -> Row:
    pooled = LatencyStats.from_samples(np.concatenate(loaded.latency))
    medians = [float(np.median(samples)) for samples in loaded.latency]
    subject = {f.name: getattr(loaded, f.name) for f in fields(Subject)} | {"load_s": round(loaded.load_s, 3)}
    return Row(
        **subject,
        top1=loaded.report.value,
        p50_ms=statistics.median(medians),
        p90_ms=pooled.p90_ms,
        p99_ms=pooled.p99_ms,
        mean_ms=pooled.mean_ms,
        min_ms=pooled.min_ms,
        max_ms=pooled.max_ms,
        throughput_fps=round(loaded.throughput.fps, 1),
        throughput_setting=loaded.throughput.setting,
        peak_rss_mb=loaded.peak_rss_mb,
        repeats=len(medians),
        p50_min_ms=min(medians),
        p50_max_ms=max(medians),
        recall={name: f["recall"] for name, f in loaded.report.per_class.items() if f and "recall" in f},
        note=loaded.note,
    )


def run_model_benchmark(
    bundle: Bundle, checkpoint: Path | None, data_root: Path | None, settings: BenchSettings | None = None
) -> list[Row]:
    settings = settings or BenchSettings()
    task, samples = held_out(bundle, data_root)
    sample = Predictor(bundle.manifest, lambda batch: [], name=str(bundle.root)).prepare(
        [task.frame(samples[0])]
    )
    loaded: list[Loaded] = []
    if checkpoint is not None:
        loaded.append(load_pytorch(checkpoint, sample, task, samples, settings))
    loaded += [load_variant(bundle, variant, sample, task, samples, settings) for variant in variants(bundle)]
    if settings.cv2 and (row := load_cv2(bundle, sample, task, samples, settings)) is not None:
        loaded.append(row)
    for repeat in range(settings.repeats):
        for item in loaded:
            item.latency.append(time_calls(lambda i=item: i.infer(sample), min_seconds=settings.seconds))
            log.info(
                "repeat %d/%d %s: p50 %.2f ms",
                repeat + 1,
                settings.repeats,
                item.name,
                np.median(item.latency[-1]),
            )
    rows = [_to_row(item) for item in loaded]
    if checkpoint is not None:
        baseline = rows[0].p50_ms
        rows = [replace(r, speedup_vs_pytorch=baseline / r.p50_ms) for r in rows]
    for r in rows:
        log.info(
            "%s: p50 %.2f ms, %s fps (%s), top-1 %.4f",
            r.name,
            r.p50_ms,
            r.throughput_fps,
            r.throughput_setting,
            r.top1,
        )
    return rows
