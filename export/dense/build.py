"""Detection/segmentation checkpoint -> verified bundle, with the classification bundle's contract:
ONNX (parity-checked) -> OpenVINO IR FP32/FP16 -> INT8 by ONNX Runtime and NNCF, every artifact
evaluated on the held-out split through edge_runtime, INT8 gated on the task metric.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_runtime.bundle import Artifact, Bundle, Manifest, load_bundle, write_manifest
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import preprocess, read_image
from export.calibration import CalibrationSet
from export.checkpoint import CheckpointError
from export.dense.onnx_parity import check_dense_parity, export_dense_onnx
from export.dense.quantize import ATTEMPTS, DenseInt8Options, quantize_dense_onnx, quantize_dense_openvino
from export.dense.tasks import TASKS, DenseTask
from export.errors import ExportError
from export.manifest_files import artifact_entry
from export.openvino_export import convert_to_ir
from export.provenance import code_version

log = logging.getLogger(__name__)

FILES = {
    "onnx-fp32": "model.onnx",
    "openvino-fp32": "openvino/model.xml",
    "openvino-fp16": "openvino/model.fp16.xml",
    "onnx-int8": "model.int8.onnx",
    "openvino-int8": "openvino/model.int8.xml",
}
REQUIRES = {"openvino-fp32": "onnx-fp32", "openvino-fp16": "onnx-fp32", "onnx-int8": "onnx-fp32", "openvino-int8": "openvino-fp32"}


def checkpoint_task(path: Path) -> str:
    """The ``task`` a checkpoint was trained for (``classify`` for the classification engine's)."""
    if not Path(path).is_file():
        raise CheckpointError(f"{path}: checkpoint not found (train first: make train)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for bad files
        raise CheckpointError(f"{path}: not a loadable weights-only checkpoint ({exc})") from exc
    return data.get("task", "classify") if isinstance(data, dict) else "classify"


def _calibration(images: list[Path], spec, size: int, seed: int) -> CalibrationSet:
    chosen = sorted(np.random.default_rng(seed).permutation(len(images))[:size])
    picked = [images[i] for i in chosen]
    return CalibrationSet(batches=[preprocess(read_image(p), spec) for p in picked], files=[f"{p.parent.name}/{p.name}" for p in picked])


def export_dense_bundle(request: Any) -> Bundle:
    """``request`` is an ``export.build.ExportRequest`` whose checkpoint is a detector or segmenter."""
    from train.engine import CHECKPOINT_FORMAT

    meta = torch.load(request.checkpoint, map_location="cpu", weights_only=True)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{request.checkpoint}: not an adit checkpoint (expected format {CHECKPOINT_FORMAT})")
    task: DenseTask = TASKS[meta["task"]]
    wanted = set(request.formats) | {REQUIRES[k] for k in request.formats if k in REQUIRES} | {"onnx-fp32"}
    unknown = wanted - set(FILES)
    if unknown:
        raise ExportError(f"unknown format(s) {sorted(unknown)}; choose from: {', '.join(FILES)}")
    from edge_runtime.bundle import InputSpec

    spec = InputSpec.model_validate(meta["input"])
    model = task.build_model(meta)
    data = task.read_data(meta, request.data_root)
    calibration = _calibration(data.train_images, spec, request.calibration_size, request.seed)
    out = request.out
    out.mkdir(parents=True, exist_ok=True)

    timings: dict[str, float] = {}
    produced: dict[str, Path] = {}

    def timed(key: str, build: Callable[[Path], Path]) -> None:
        started = time.perf_counter()
        produced[key] = build(out / FILES[key])
        timings[key] = round(time.perf_counter() - started, 2)
        log.info("%s -> %s (%.1f s)", key, produced[key], timings[key])

    timed("onnx-fp32", lambda p: export_dense_onnx(model, calibration.batches[0], p, task.output_names, dynamic_batch=task.dynamic_batch))
    parity_batches = [preprocess(read_image(p), spec) for p in data.test_images[:8]]
    parity = check_dense_parity(task.name, model, produced["onnx-fp32"], parity_batches)
    for key, fp16 in (("openvino-fp32", False), ("openvino-fp16", True)):
        if key in wanted:
            timed(key, lambda p, half=fp16: convert_to_ir(produced["onnx-fp32"], p, fp16=half))

    base = Manifest(
        name=out.name,
        task=task.name,
        classes=list(meta["classes"]),
        input=spec,
        postprocess=dict(meta["postprocess"]),
        artifacts=[artifact_entry(out, key, produced[key]) for key in produced],
        provenance={
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "model": meta["model"],
            "checkpoint": str(request.checkpoint),
            "training_config": meta.get("config", {}),
            "dataset_fingerprint": meta.get("dataset_fingerprint"),
            "evaluation_set": {"root": str(data.root), "images": len(data.test_samples), "fingerprint": _paths_digest(data.test_images)},
            "calibration_set": {"images": len(calibration), "fingerprint": calibration.fingerprint, "seed": request.seed},
            "onnx_parity": parity.as_dict(),
            "export_seconds": timings,
        },
    )
    write_manifest(out, base)
    measured = {a.key: _measure(task, load_bundle(out), a, data.test_samples) for a in base.artifacts}
    int8_keys = [k for k in ("onnx-int8", "openvino-int8") if k in wanted]
    attempts: dict[str, str] = {}
    for key in int8_keys:
        reference = measured[key.replace("int8", "fp32")][0][task.metric]
        for options in ATTEMPTS:
            timed(key, lambda p, o=options, k=key: _quantize(task, k, produced, calibration, p, o))
            # list every INT8 file written so far: the runtime refuses a bundle holding an unlisted file
            made = [artifact_entry(out, k, produced[k]) for k in int8_keys if k in produced]
            write_manifest(out, base.model_copy(update={"artifacts": [*base.artifacts, *made]}))
            measured[key] = _measure(task, load_bundle(out), key, data.test_samples)
            attempts[key] = options.describe()
            if _drop_pp(reference, measured[key][0][task.metric]) <= request.budget.max_top1_drop_pp:
                break
            log.warning("%s: %s %.4f misses the budget against FP32 %.4f with %s", key, task.metric, measured[key][0][task.metric], reference, options.describe())
    artifacts = [artifact_entry(out, key, produced[key]) for key in FILES if key in produced]
    manifest = base.model_copy(update={"artifacts": [_judged(a, task, measured, request.budget.max_top1_drop_pp, attempts) for a in artifacts]})
    write_manifest(out, manifest)
    return load_bundle(out)


def _quantize(task: DenseTask, key: str, produced: dict[str, Path], calibration: CalibrationSet, target: Path, options: DenseInt8Options) -> Path:
    if key == "onnx-int8":
        return quantize_dense_onnx(produced["onnx-fp32"], calibration, target, options, task.ort_quantize_ops)
    return quantize_dense_openvino(produced["openvino-fp32"], calibration, target, options, task.int8_ignored_types)


def _measure(task: DenseTask, bundle: Bundle, key: Any, samples: list[Any]) -> tuple[dict, str]:
    """Evaluate one artifact exactly as the device runs it; keep the precision that really ran."""
    artifact = key if isinstance(key, Artifact) else bundle.artifact(key)
    model = BundleModel(bundle, artifact.key)
    report = task.evaluate(model, samples)
    log.info("%s: %s %.4f (ran in %s)", artifact.key, task.metric, report[task.metric], model.runtime_precision)
    return report, model.runtime_precision


def _drop_pp(reference: float, candidate: float) -> float:
    return 100 * (reference - candidate)


def judge_dense(reference: dict, candidate: dict, metric: str, max_drop_pp: float) -> tuple[bool, str]:
    """The task-metric gate: INT8 ships when it loses at most ``max_drop_pp`` points against FP32."""
    drop = _drop_pp(reference[metric], candidate[metric])
    if drop > max_drop_pp:
        return False, f"rejected: {metric} {100 * candidate[metric]:.2f} is {drop:.2f} pp below FP32 {100 * reference[metric]:.2f} (budget {max_drop_pp} pp)"
    return True, f"within budget ({metric} drop {drop:.2f} pp, budget {max_drop_pp} pp)"


def _judged(artifact: Artifact, task: DenseTask, measured: dict, max_drop_pp: float, attempts: dict[str, str]) -> Artifact:
    report, precision = measured[artifact.key]
    metrics = {task.metric: report[task.metric]}
    if task.name == "detect":
        metrics["map"] = report["map"]
        metrics |= {f"ap50/{name}": values["ap50"] for name, values in report["per_class"].items()}
    else:
        metrics |= {f"iou/{name}": values["iou"] for name, values in report["per_class"].items()}
    status, note = "shipped", f"evaluated on the held-out split; ran in {precision}"
    if artifact.precision == "int8":
        passed, verdict = judge_dense(measured[artifact.key.replace("int8", "fp32")][0], report, task.metric, max_drop_pp)
        status = "shipped" if passed else "rejected"
        note = f"{note}; INT8 with {attempts.get(artifact.key, 'default options')}; gate: {verdict}"
    return artifact.model_copy(update={"metrics": metrics, "status": status, "note": note, "runtime_precision": precision})


def _paths_digest(paths: list[Path]) -> str:
    return hashlib.sha256("\n".join(f"{p.parent.name}/{p.name}" for p in paths).encode()).hexdigest()[:16]


def dense_summary(bundle: Bundle) -> str:
    metric = "map50" if bundle.manifest.task == "detect" else "miou"
    lines = [f"bundle {bundle.root} ({bundle.manifest.task}, {len(bundle.manifest.classes)} classes)"]
    for a in bundle.manifest.artifacts:
        lines.append(f"  {a.key:<15} {metric} {100 * a.metrics.get(metric, float('nan')):6.2f}%  {a.total_bytes / 1e6:6.2f} MB  {a.status}")
    return "\n".join(lines)
