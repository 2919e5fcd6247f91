"""Checkpoint -> verified bundle: every format from a table, every artifact measured, INT8 gated.

Formats are declared once in ``FORMATS`` (what each needs and produces); requested formats are
checked before any work starts, each is produced by a small function behind one timing wrapper,
then every artifact is evaluated through edge_runtime and the manifest records the figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge_runtime.backends import BackendOptions
from edge_runtime.bundle import (
    Artifact,
    Bundle,
    Manifest,
    QuantAttempt,
    load_bundle,
    write_manifest,
)
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import preprocess, read_image
from export.calibration import CalibrationSet, build_calibration_set
from export.checkpoint import LoadedCheckpoint, load_checkpoint
from export.errors import ExportError
from export.evaluate import evaluate_classifier
from export.gate import GateBudget, GateResult, judge
from export.ladder import Rung, climb, first_rung, fixes
from export.manifest_files import artifact_entry
from export.onnx_export import check_parity, export_onnx
from export.openvino_export import convert_to_ir
from export.options import parse_options
from export.provenance import code_version
from export.quantize import quantize_onnx, quantize_openvino, quantize_openvino_with_accuracy_control
from export.validation import accuracy_items, top1_of_compiled
from train.data import Sample, fingerprint, list_class_folders

log = logging.getLogger(__name__)


@dataclass
class ExportContext:
    """What the format functions share: the model, the output folder, calibration data."""

    checkpoint: LoadedCheckpoint
    out: Path
    calibration: CalibrationSet
    options: dict = field(default_factory=dict)  # format key -> its validated options model
    validation: list = field(default_factory=list)  # (tensor, label) items for accuracy control
    max_drop: float = 0.005  # top-1 as a fraction, for NNCF's accuracy control
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
    export_onnx(ctx.checkpoint.model, ctx.calibration.batches[0], target, ctx.options["onnx-fp32"])


def _openvino(fp16: bool) -> Callable[[ExportContext, Path], None]:
    def build(ctx: ExportContext, target: Path) -> None:
        convert_to_ir(ctx.produced["onnx-fp32"], target, fp16=fp16)

    return build


def _onnx_int8(ctx: ExportContext, target: Path) -> None:
    _quantize(ctx, first_rung(ctx.options["onnx-int8"]), target)


def _openvino_int8(ctx: ExportContext, target: Path) -> None:
    _quantize(ctx, first_rung(ctx.options["openvino-int8"]), target)


def _quantize(ctx: ExportContext, rung: Rung, target: Path) -> None:
    """Build an INT8 artifact by one rung of the fix ladder (the first rung is the requested options)."""
    if rung.method.startswith("ort-"):
        quantize_onnx(ctx.produced["onnx-fp32"], ctx.calibration, target, rung.options)
    elif rung.accuracy_control:
        quantize_openvino_with_accuracy_control(
            ctx.produced["openvino-fp32"], ctx.calibration, ctx.validation, top1_of_compiled, target,
            max_drop=ctx.max_drop, options=rung.options,
        )
    else:
        quantize_openvino(ctx.produced["openvino-fp32"], ctx.calibration, target, rung.options)


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
    wanted: set[str] = set()
    pending = list(requested)
    while pending:
        key = pending.pop()
        if key not in wanted:
            wanted.add(key)
            pending.extend(FORMATS[key].requires)
    return [spec for key, spec in FORMATS.items() if key in wanted]


def _redigest(root: Path, artifact: Artifact) -> Artifact:
    """The same artifact entry with digests of its files as they are now (after a ladder rebuild)."""
    fresh = artifact_entry(root, artifact.key, root / artifact.file)
    update = {"sha256": fresh.sha256, "bytes": fresh.bytes, "weights": fresh.weights, "data": fresh.data}
    return artifact.model_copy(update=update)


@dataclass(frozen=True)
class ExportRequest:
    checkpoint: Path
    out: Path
    data_root: Path | None = None
    formats: tuple[str, ...] = tuple(FORMATS)
    calibration_size: int = 100
    budget: GateBudget = GateBudget()
    seed: int = 0
    options: tuple[str, ...] = ()  # "FORMAT.OPTION=VALUE", see export.options
    fix_ladder: bool = True  # when INT8 misses the budget, try the fixes before rejecting it


def export_bundle(request: ExportRequest) -> Bundle:
    from export.dense.build import checkpoint_task, export_dense_bundle

    specs = resolve_formats(list(request.formats))
    options = parse_options(list(request.options), [spec.key for spec in specs])  # refused before any work
    if checkpoint_task(request.checkpoint) in ("detect", "segment"):  # their own pipeline, same bundle contract
        if request.options:
            raise ExportError(
                f"{request.checkpoint}: --option applies to classification exports; detect/segment "
                f"bundles use their fixed INT8 ladder (got {', '.join(request.options)})"
            )
        return export_dense_bundle(request)
    checkpoint = load_checkpoint(request.checkpoint)
    data_root = request.data_root or Path(checkpoint.meta["config"]["data"]["root"])
    classes, train_samples = list_class_folders(data_root / "train", checkpoint.classes)
    _, test_samples = list_class_folders(data_root / "test", classes)
    unknown = [name for name in request.budget.safety_classes if name not in classes]
    if unknown:
        raise ExportError(f"safety class(es) {unknown} are not classes of this model; choose from: {', '.join(classes)}")
    # Accuracy control tunes on the val split when there is one, so the gate's test split stays unseen.
    validation_samples = list_class_folders(data_root / "val", classes)[1] if (data_root / "val").is_dir() else test_samples
    out = request.out
    out.mkdir(parents=True, exist_ok=True)
    calibration = build_calibration_set(train_samples, checkpoint.input, request.calibration_size, request.seed)
    ctx = ExportContext(
        checkpoint=checkpoint, out=out, calibration=calibration, options=options,
        validation=accuracy_items(validation_samples, checkpoint.input), max_drop=max(request.budget.max_top1_drop_pp, 0.0) / 100,
    )

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

    artifacts = [artifact_entry(out, spec.key, ctx.produced[spec.key]) for spec in specs]
    manifest = Manifest(
        name=request.out.name,
        task="classify",
        classes=classes,
        input=checkpoint.input,
        postprocess={"softmax": True},
        artifacts=artifacts,
        provenance={
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "model": checkpoint.model_name,
            "checkpoint": str(request.checkpoint),
            "training_config": checkpoint.meta.get("config", {}),
            "dataset_fingerprint": checkpoint.meta.get("dataset_fingerprint"),
            "evaluation_set": {"root": str(data_root / "test"), "images": len(test_samples), "fingerprint": fingerprint(test_samples)},
            "calibration_set": {"images": len(calibration), "fingerprint": calibration.fingerprint, "seed": request.seed},
            "export_options": {key: value.model_dump(mode="json") for key, value in options.items()},
            "gate_budget": request.budget.as_dict(),
            "onnx_parity": parity.as_dict(),
            "export_seconds": timings,
        },
    )
    write_manifest(out, manifest)
    measured = _measure(load_bundle(out), test_samples)
    attempts = {}
    if request.fix_ladder:
        manifest, attempts = _run_ladders(ctx, manifest, measured, request.budget, test_samples)
    write_manifest(out, apply_gate(manifest, measured, request.budget, attempts))
    return load_bundle(out)


def _gate_metrics(report: dict, budget: GateBudget) -> dict[str, float]:
    return {"top1": report["top1"]} | {f"recall/{name}": report["per_class"][name]["recall"] for name in budget.safety_classes}


def _judge_int8(artifact: Artifact, measured: dict[str, tuple[dict, str]], budget: GateBudget) -> GateResult:
    reference = measured.get(f"{artifact.format}-fp32", measured["onnx-fp32"])[0]
    return judge(reference, measured[artifact.key][0], budget)


def _run_ladders(
    ctx: ExportContext, manifest: Manifest, measured: dict[str, tuple[dict, str]], budget: GateBudget, samples: list[Sample]
) -> tuple[Manifest, dict[str, list[QuantAttempt]]]:
    """Climb the fix ladder for every INT8 artifact that missed the budget; ``measured`` is updated."""
    attempts: dict[str, list[QuantAttempt]] = {}
    artifacts = list(manifest.artifacts)
    for index, artifact in enumerate(artifacts):
        if artifact.precision != "int8":
            continue
        options = ctx.options[artifact.key]
        first = first_rung(options)
        verdict = _judge_int8(artifact, measured, budget)
        record = QuantAttempt(method=first.method, options=options.model_dump(mode="json"),
                              metrics=_gate_metrics(measured[artifact.key][0], budget), passed=verdict.passed, note=verdict.note)

        def attempt(rung: Rung, index: int = index) -> QuantAttempt:
            log.warning("%s missed the INT8 budget; trying %s", artifacts[index].key, rung.method)
            _quantize(ctx, rung, ctx.out / artifacts[index].file)
            artifacts[index] = _redigest(ctx.out, artifacts[index])
            write_manifest(ctx.out, manifest.model_copy(update={"artifacts": artifacts}))
            key = artifacts[index].key
            measured[key] = _measure(load_bundle(ctx.out), samples, only=key)[key]
            result = _judge_int8(artifacts[index], measured, budget)
            return QuantAttempt(method=rung.method, options=rung.options.model_dump(mode="json") | {"accuracy_control": rung.accuracy_control},
                                metrics=_gate_metrics(measured[key][0], budget), passed=result.passed, note=result.note)

        attempts[artifact.key] = climb(record, fixes(options), attempt)
    return manifest.model_copy(update={"artifacts": artifacts}), attempts


def _measure(bundle: Bundle, samples: list[Sample], only: str | None = None) -> dict[str, tuple[dict, str]]:
    """Evaluate each artifact as the device runs it by default; keep the precision that really ran."""
    results = {}
    for artifact in bundle.manifest.artifacts:
        if only is not None and artifact.key != only:
            continue
        model = BundleModel(bundle, artifact, options=BackendOptions())
        results[artifact.key] = (evaluate_classifier(model, samples), model.runtime_precision)
        log.info("%s: top-1 %.4f (ran in %s)", artifact.key, results[artifact.key][0]["top1"], model.runtime_precision)
    return results


def apply_gate(
    manifest: Manifest, measured: dict[str, tuple[dict, str]], budget: GateBudget, attempts: dict[str, list[QuantAttempt]] | None = None
) -> Manifest:
    updated = []
    for artifact in manifest.artifacts:
        report, runtime_precision = measured[artifact.key]
        metrics = {"top1": report["top1"]} | {
            f"recall/{name}": values["recall"] for name, values in report["per_class"].items()
        }
        status, note = "shipped", f"evaluated on {report['samples']} held-out images; ran in {runtime_precision}"
        tried = (attempts or {}).get(artifact.key, [])
        if artifact.precision == "int8":
            result = _judge_int8(artifact, measured, budget)
            status = "shipped" if result.passed else "rejected"
            note = f"{note}; gate: {result.note}"
            if len(tried) > 1:
                note += f" (after {len(tried)} attempts: {', '.join(a.method for a in tried)})"
        updated.append(artifact.model_copy(update={
            "metrics": metrics, "status": status, "note": note, "runtime_precision": runtime_precision, "attempts": tried,
        }))
    return manifest.model_copy(update={"artifacts": updated})


def summary(bundle: Bundle) -> str:
    if bundle.manifest.task in ("detect", "segment"):
        from export.dense.build import dense_summary

        return dense_summary(bundle)
    lines = [f"bundle {bundle.root} ({bundle.manifest.task}, {len(bundle.manifest.classes)} classes)"]
    for a in bundle.manifest.artifacts:
        ran = f"ran in {a.runtime_precision}" if a.runtime_precision else ""
        lines.append(f"  {a.key:<15} top-1 {100 * a.metrics.get('top1', float('nan')):6.2f}%  {a.total_bytes / 1e6:6.2f} MB  {a.status:<8} {ran}")
    for a in bundle.manifest.artifacts:
        if a.status == "rejected":
            fallback = ", ".join(s.key for s in bundle.manifest.artifacts if s.status == "shipped" and s.format == a.format)
            lines.append(f"INT8 REJECTED: {a.key} missed the accuracy budget; {a.note.split('gate: ', 1)[-1]}.")
            for attempt in a.attempts:
                lines.append(f"    tried {attempt.method:<26} top-1 {100 * attempt.metrics.get('top1', float('nan')):6.2f}%  {'passed' if attempt.passed else 'failed'}")
            lines.append(f"  -> not shipping {a.key}; use {fallback or 'a floating-point artifact'} instead.")
    return "\n".join(lines)
