"""Every artifact of a bundle measured as the device runs it, with no torch: latency percentiles at
batch 1, throughput, load time, peak memory and, given a labelled folder, accuracy.

The box that received a bundle runs this (``adit bench``) to learn what its own CPU does; the
workstation benchmark (``benchmarks.models``) loads and times its rows with the same functions, so
both report the same figures the same way.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import Artifact, Bundle
from edge_runtime.measure.labelled import LabelledImages
from edge_runtime.measure.memory import peak_rss_delta
from edge_runtime.measure.throughput import Throughput, batched_throughput, openvino_throughput
from edge_runtime.measure.timing import LatencyStats, time_calls
from edge_runtime.model import BundleModel, Predictor, resolve_precision
from edge_runtime.signal import silent_frame


@dataclass(frozen=True)
class BenchSettings:
    """How hard to measure: seconds per timing, round-robin repeats, throughput batch, extra rows."""

    seconds: float = 1.0
    repeats: int = 1
    batch: int = 8  # throughput-mode batch for the runtimes without streams
    threads: int | None = None  # None = each runtime's default (all cores)
    cv2: bool = False


@dataclass(frozen=True)
class Loaded:
    """A model loaded once, with what loading it cost."""

    model: BundleModel
    load_s: float
    peak_rss_mb: float | None


@dataclass(frozen=True)
class ArtifactFigures:
    """One artifact's row in ``adit bench``'s results (``edge-results.json``)."""

    artifact: str
    status: str
    backend: str
    runtime_precision: str
    size_bytes: int
    load_s: float
    peak_rss_mb: float | None
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    throughput_fps: float
    throughput_setting: str
    accuracy: float | None  # top-1 on the labelled folder; None when none was given
    samples: int


def load_timed(
    bundle: Bundle, artifact: Artifact, hint: str | None, sample: np.ndarray, threads: int | None
) -> Loaded:
    """Load ``artifact`` at precision ``hint`` and run it once; the time and peak memory that took."""
    with peak_rss_delta() as memory:
        started = time.perf_counter()
        model = BundleModel(bundle, artifact, options=BackendOptions(precision_hint=hint, threads=threads))
        model.infer(sample)
        load_s = time.perf_counter() - started
    return Loaded(model, load_s, memory.delta_mb)


def throughput_of(
    loaded: Loaded, bundle: Bundle, hint: str | None, sample: np.ndarray, settings: BenchSettings
) -> Throughput:
    """OpenVINO with its THROUGHPUT hint and async requests; other runtimes on a batch."""
    if loaded.model.backend_name == "openvino":
        return openvino_throughput(
            bundle.path_of(loaded.model.artifact),
            sample,
            settings.seconds,
            precision_hint=hint,
            threads=settings.threads,
        )
    return batched_throughput(loaded.model.infer, sample, settings.batch, settings.seconds)


def input_sample(bundle: Bundle, labelled: LabelledImages | None) -> np.ndarray:
    """A real preprocessed image when one was given, else a mid-grey frame of the model's input size
    (for a vibration model, a silent window of its length)."""
    frame = labelled.first_frame() if labelled is not None else None
    signal = bundle.manifest.signal
    if signal is not None:
        frame = silent_frame(signal)
    elif frame is None:
        height, width = bundle.manifest.input.size
        frame = np.full((height, width, 3), 128, np.uint8)
    return Predictor(bundle.manifest, lambda batch: [], name=str(bundle.root)).prepare([frame])


def measure_bundle(
    bundle: Bundle, settings: BenchSettings, labelled: LabelledImages | None = None
) -> list[ArtifactFigures]:
    """Every shipped artifact, as the device runs it (the precision its gate measured)."""
    sample = input_sample(bundle, labelled)
    rows = []
    for artifact in (a for a in bundle.manifest.artifacts if a.status == "shipped"):
        hint = resolve_precision("auto", artifact)
        loaded = load_timed(bundle, artifact, hint, sample, settings.threads)
        repeats = [_timed(loaded.model, sample, settings.seconds) for _ in range(settings.repeats)]
        stats = LatencyStats.from_samples([ms for samples in repeats for ms in samples])
        throughput = throughput_of(loaded, bundle, hint, sample, settings)
        accuracy = labelled.top1(loaded.model) if labelled is not None else None
        rows.append(
            ArtifactFigures(
                artifact=artifact.key,
                status=artifact.status,
                backend=loaded.model.backend_name,
                runtime_precision=loaded.model.runtime_precision,
                size_bytes=artifact.total_bytes,
                load_s=round(loaded.load_s, 3),
                peak_rss_mb=loaded.peak_rss_mb,
                p50_ms=stats.p50_ms,
                p90_ms=stats.p90_ms,
                p99_ms=stats.p99_ms,
                mean_ms=stats.mean_ms,
                throughput_fps=round(throughput.fps, 1),
                throughput_setting=throughput.setting,
                accuracy=accuracy,
                samples=len(labelled) if labelled is not None else 0,
            )
        )
    return rows


def _timed(model: BundleModel, sample: np.ndarray, seconds: float) -> list[float]:
    """ms per synchronous call at batch 1, after warm-up, for at least ``seconds``."""
    return time_calls(lambda: model.infer(sample), min_seconds=seconds)


def p50_latencies(bundle: Bundle, seconds: float, threads: int | None = None) -> dict[str, float]:
    """p50 at batch 1 of every shipped artifact, nothing else: what export's recommendation is made of."""
    sample = input_sample(bundle, None)
    p50 = {}
    for artifact in (a for a in bundle.manifest.artifacts if a.status == "shipped"):
        model = load_timed(bundle, artifact, resolve_precision("auto", artifact), sample, threads).model
        p50[artifact.key] = float(np.median(np.asarray(_timed(model, sample, seconds))))
    return p50


def table(rows: list[ArtifactFigures]) -> str:
    """The rows as a Markdown table, the way ``adit bench`` prints them."""
    lines = [
        "| artifact | ran in | p50 ms | p90 ms | p99 ms | throughput fps | load s | peak RSS MB | top-1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        top1 = "–" if r.accuracy is None else f"{100 * r.accuracy:.2f} % ({r.samples})"
        memory = "–" if r.peak_rss_mb is None else f"{r.peak_rss_mb:.1f}"
        lines.append(
            f"| {r.artifact} | {r.runtime_precision} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.throughput_fps:.1f} ({r.throughput_setting}) | {r.load_s:.2f} | {memory} | {top1} |"
        )
    return "\n".join(lines)


def write_results(rows: list[ArtifactFigures], host: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host, "rows": [asdict(r) for r in rows]}, indent=2) + "\n")
