"""Checkpoint -> verified bundle: every format from a table, every artifact measured, INT8 gated.

Formats are declared once in ``FORMATS`` (what each needs and produces); requested formats are
checked before any work starts, each is produced by a small function behind one timing wrapper,
then every artifact is evaluated through edge_runtime and the manifest records the figures.
"""

from __future__ import annotations

import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge_runtime.bundle import Artifact, Bundle, Manifest, file_digest, load_bundle, write_manifest
from edge_runtime.model import BundleModel
from edge_runtime.backends import BackendOptions
from edge_runtime.preprocess import preprocess, read_image
from export.calibration import CalibrationSet, build_calibration_set
from export.checkpoint import LoadedCheckpoint, load_checkpoint
from export.errors import ExportError
from export.evaluate import evaluate_classifier
from export.gate import GateBudget, judge
from export.onnx_export import check_parity, export_onnx
from export.openvino_export import convert_to_ir
from export.quantize import quantize_onnx, quantize_openvino
from train.data import Sample, fingerprint, list_class_folders

log = logging.getLogger(__name__)


@dataclass
class ExportContext:
    """What the format functions share: the model, the output folder, calibration data."""

    checkpoint: LoadedCheckpoint
    out: Path
    calibration: CalibrationSet
    produced: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class FormatSpec:
    key: str  # "<format>-<precision>", as in the manifest
    file: str  # path inside the bundle
    requires: tuple[str, ...]
    build: Callable[[ExportContext, Path], None]

    @property
    def format(self) -> str:
        return self.key.split("-")[0]

    @property
    def precision(self) -> str:
        return self.key.split("-")[1]


def _onnx_fp32(ctx: ExportContext, target: Path) -> None:
    export_onnx(ctx.checkpoint.model, ctx.calibration.batches[0], target)


def _openvino(fp16: bool) -> Callable[[ExportContext, Path], None]:
    def build(ctx: ExportContext, target: Path) -> None:
        convert_to_ir(ctx.produced["onnx-fp32"], target, fp16=fp16)

    return build


def _onnx_int8(ctx: ExportContext, target: Path) -> None:
    quantize_onnx(ctx.produced["onnx-fp32"], ctx.calibration, target)


def _openvino_int8(ctx: ExportContext, target: Path) -> None:
    quantize_openvino(ctx.produced["openvino-fp32"], ctx.calibration, target)


FORMATS: dict[str, FormatSpec] = {
    spec.key: spec
    for spec in (
        FormatSpec("onnx-fp32", "model.onnx", (), _onnx_fp32),
        FormatSpec("openvino-fp32", "openvino/model.xml", ("onnx-fp32",), _openvino(fp16=False)),
        FormatSpec("openvino-fp16", "openvino/model.fp16.xml", ("onnx-fp32",), _openvino(fp16=True)),
        FormatSpec("onnx-int8", "model.int8.onnx", ("onnx-fp32",), _onnx_int8),
        FormatSpec("openvino-int8", "openvino/model.int8.xml", ("openvino-fp32",), _openvino_int8),
    )
}


def resolve_formats(requested: list[str]) -> list[FormatSpec]:
    """Validate the request and add prerequisites, in table order, before any work is done."""
    unknown = [key for key in requested if key not in FORMATS]
    if unknown:
        raise ExportError(f"unknown format(s) {unknown}; choose from: {', '.join(FORMATS)}")
    wanted, pending = set(), list(requested)
    while pending:
        key = pending.pop()
        if key not in wanted:
            wanted.add(key)
            pending.extend(FORMATS[key].requires)
    return [spec for key, spec in FORMATS.items() if key in wanted]


def _artifact_entry(root: Path, spec: FormatSpec, path: Path) -> Artifact:
    digest = file_digest(path, root)
    weights = file_digest(path.with_suffix(".bin"), root) if spec.format == "openvino" else None
    return Artifact(**digest.model_dump(), format=spec.format, precision=spec.precision, weights=weights)


def _code_version() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@dataclass(frozen=True)
class ExportRequest:
    checkpoint: Path
    out: Path
    data_root: Path | None = None
    formats: tuple[str, ...] = tuple(FORMATS)
    calibration_size: int = 100
    budget: GateBudget = GateBudget()
    seed: int = 0


def export_bundle(request: ExportRequest) -> Bundle:
    specs = resolve_formats(list(request.formats))
    checkpoint = load_checkpoint(request.checkpoint)
    data_root = request.data_root or Path(checkpoint.meta["config"]["data"]["root"])
    classes, train_samples = list_class_folders(data_root / "train", checkpoint.classes)
    _, test_samples = list_class_folders(data_root / "test", classes)
    out = request.out
    out.mkdir(parents=True, exist_ok=True)
    calibration = build_calibration_set(train_samples, checkpoint.input, request.calibration_size, request.seed)
    ctx = ExportContext(checkpoint=checkpoint, out=out, calibration=calibration)

    timings: dict[str, float] = {}
    for spec in specs:
        started = time.perf_counter()
        target = out / spec.file
        spec.build(ctx, target)
        ctx.produced[spec.key] = target
        timings[spec.key] = round(time.perf_counter() - started, 2)
        log.info("%s -> %s (%.1f s)", spec.key, target, timings[spec.key])

    parity_batch = np.concatenate([preprocess(read_image(s.path), checkpoint.input) for s in test_samples[:16]])
    parity = check_parity(checkpoint.model, ctx.produced["onnx-fp32"], parity_batch)

    artifacts = [_artifact_entry(out, spec, ctx.produced[spec.key]) for spec in specs]
    manifest = Manifest(
        name=request.out.name,
        task="classify",
        classes=classes,
        input=checkpoint.input,
        postprocess={"softmax": True},
        artifacts=artifacts,
        provenance={
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "code_version": _code_version(),
            "model": checkpoint.model_name,
            "checkpoint": str(request.checkpoint),
            "training_config": checkpoint.meta.get("config", {}),
            "dataset_fingerprint": checkpoint.meta.get("dataset_fingerprint"),
            "evaluation_set": {"root": str(data_root / "test"), "images": len(test_samples), "fingerprint": fingerprint(test_samples)},
            "calibration_set": {"images": len(calibration), "fingerprint": calibration.fingerprint, "seed": request.seed},
            "onnx_parity": parity.as_dict(),
            "export_seconds": timings,
        },
    )
    write_manifest(out, manifest)
    measured = _measure(load_bundle(out), test_samples)
    write_manifest(out, _apply_gate(manifest, measured, request.budget))
    return load_bundle(out)


def _measure(bundle: Bundle, samples: list[Sample]) -> dict[str, tuple[dict, str]]:
    """Evaluate each artifact as the device runs it by default; keep the precision that really ran."""
    results = {}
    for artifact in bundle.manifest.artifacts:
        model = BundleModel(bundle, artifact, options=BackendOptions())
        results[artifact.key] = (evaluate_classifier(model, samples), model.runtime_precision)
        log.info("%s: top-1 %.4f (ran in %s)", artifact.key, results[artifact.key][0]["top1"], model.runtime_precision)
    return results


def _apply_gate(manifest: Manifest, measured: dict[str, tuple[dict, str]], budget: GateBudget) -> Manifest:
    updated = []
    for artifact in manifest.artifacts:
        report, runtime_precision = measured[artifact.key]
        metrics = {"top1": report["top1"]} | {
            f"recall/{name}": values["recall"] for name, values in report["per_class"].items()
        }
        status, note = "shipped", f"evaluated on {report['samples']} held-out images; ran in {runtime_precision}"
        if artifact.precision == "int8":
            reference = measured.get(f"{artifact.format}-fp32", measured["onnx-fp32"])[0]
            result = judge(reference, report, budget)
            status = "shipped" if result.passed else "rejected"
            note = f"{note}; gate: {result.note}"
        updated.append(artifact.model_copy(update={"metrics": metrics, "status": status, "note": note}))
    return manifest.model_copy(update={"artifacts": updated})


def summary(bundle: Bundle) -> str:
    lines = [f"bundle {bundle.root} ({bundle.manifest.task}, {len(bundle.manifest.classes)} classes)"]
    for a in bundle.manifest.artifacts:
        lines.append(f"  {a.key:<15} top-1 {100 * a.metrics.get('top1', float('nan')):6.2f}%  {a.total_bytes / 1e6:6.2f} MB  {a.status}")
    return "\n".join(lines)
