"""Checkpoint -> verified bundle, for every task: build the artifacts, measure them, gate them, and
write the manifest once.

The task comes from the checkpoint (``train.task``); the formats from one table
(``export.formats``); every artifact is measured through edge_runtime against the true-FP32
reference and judged by one gate (``export.verdict``). Everything is written into a staging folder
beside the bundle and moved into place only when complete, so a crash leaves no half-written bundle.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_runtime.bundle import (
    Artifact,
    Bundle,
    Manifest,
    ModelInterface,
    Recommendation,
    load_bundle,
    write_manifest,
)
from edge_runtime.measure.artifacts import p50_latencies
from edge_runtime.measure.host import host_info
from edge_runtime.measure.select import recommend
from edge_runtime.model import Predictor
from edge_runtime.siteloop.framestats import ReferenceStats
from edge_runtime.siteloop.reference import measure_frames
from export.calibration import calibration_set
from export.errors import ExportError
from export.formats import FORMATS, BuildContext, FormatSpec, quantize, resolve_formats
from export.gate import Floor, FloorResult, GateBudget, GateChoice, check_floor
from export.ladder import Rung, first_rung, fixes
from export.manifest_files import artifact_entry
from export.measure import ArtifactFailed, Candidate, Measurer
from export.onnx_export import check_parity
from export.options import NncfQuantOptions, OrtQuantOptions, parse_options
from export.provenance import code_version
from export.verdict import REFERENCE, Gate, Verdict, failed_verdict, judge_candidate, reference_verdict
from train.checkpoint import read_checkpoint
from train.task import Task, TaskData, get_task

log = logging.getLogger(__name__)

PARITY_SAMPLES = 16  # real held-out inputs ONNX must agree with PyTorch on
RECOMMEND_SECONDS = 0.3  # latency timing per shipped artifact for the recommendation (after warm-up)


@dataclass(frozen=True)
class ExportRequest:
    checkpoint: Path
    out: Path
    data_root: Path | None = None
    formats: tuple[str, ...] = tuple(FORMATS)
    calibration_size: int = 100
    budget: GateBudget | GateChoice = GateChoice()  # a choice leaves the rest to the task's defaults
    floor: Floor = Floor()
    seed: int = 0
    options: tuple[str, ...] = ()  # "FORMAT.OPTION=VALUE", see export.options
    fix_ladder: bool = True  # when an artifact misses the budget, try the fixes before rejecting it
    site_data: Path | None = None  # a site's labelled frames (siteloop import): measured beside test
    # inference threads of every runtime export measures with (gate, site figures, recommendation's
    # latencies, drift reference), so an export beside a training can leave it cores; None: the runtime's
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise ExportError(
                f"threads: {self.threads} is not a number of threads; give 1 or more, "
                "or leave it unset for each runtime's default (every core)"
            )


def export_bundle(request: ExportRequest) -> Bundle:
    specs = resolve_formats(request.formats)
    options = parse_options(list(request.options), [spec.key for spec in specs])  # refused before any work
    checkpoint = read_checkpoint(request.checkpoint)
    task = get_task(checkpoint.meta.task)
    config = task.config_type.model_validate(checkpoint.meta.config)
    data = task.read_data(config, request.data_root)
    chosen = request.budget.safety_classes
    unknown = [name for name in chosen or () if name not in data.classes]
    if unknown:
        raise ExportError(
            f"safety class(es) {unknown} are not classes of this model; "
            f"choose from: {', '.join(data.classes)}"
        )
    interface = checkpoint.meta.interface
    model = task.load(checkpoint)
    prepare = Predictor(interface, lambda batch: [], name=str(request.checkpoint)).prepare
    ctx = BuildContext(
        task=task,
        model=model,
        interface=interface,
        calibration=calibration_set(task, data.train, prepare, request.calibration_size, request.seed),
        options=options,
        validation=data.val,
        max_drop=max(_max_drop(request.budget, task), 0.0) / 100,
    )
    with _staged(request.out) as stage:
        timings = {spec.key: _build(ctx, spec, stage) for spec in specs}
        parity_inputs = [prepare([task.frame(sample)]) for sample in data.test[:PARITY_SAMPLES]]
        parity = check_parity(task, model, ctx.produced["onnx-fp32"], parity_inputs)
        measurer = Measurer(task, interface, data, request.threads)
        artifacts, budget, floor = _gated(ctx, specs, measurer, request, stage)
        provenance = {
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "model": checkpoint.meta.model.model_dump(mode="json"),
            "checkpoint": str(request.checkpoint),
            "training_config": checkpoint.meta.config,
            "training_precision": checkpoint.meta.amp,
            "dataset_fingerprint": data.fingerprint,
            "evaluation_set": {"source": data.source, "split": "test", "samples": len(data.test)},
            "validation_set": {"source": data.source, "split": "val", "samples": len(data.val)},
            "calibration_set": {
                "samples": len(ctx.calibration),
                "fingerprint": ctx.calibration.fingerprint,
                "seed": request.seed,
            },
            "export_options": {key: value.model_dump(mode="json") for key, value in options.items()},
            "gate": _gate_record(task, budget, floor),
            "onnx_parity": parity.as_dict(),
            "export_seconds": timings,
            "inference_threads": request.threads,  # of the figures above; None: each runtime's default
        }
        if checkpoint.meta.interpolated is not None:  # WiSE-FT: not the weights as trained
            provenance["interpolated"] = checkpoint.meta.interpolated.model_dump(mode="json")
        if request.site_data is not None:
            site = _site_evaluation(
                task, interface, data, request.site_data, artifacts, stage, request.threads
            )
            provenance["site_evaluation"] = site
        draft = Manifest(
            **interface.model_dump(), name=request.out.name, artifacts=artifacts, provenance=provenance
        )
        shipped = any(artifact.status == "shipped" for artifact in artifacts)  # none below the floor
        manifest = draft
        if shipped:
            recommended = _recommended(Bundle(stage, draft), request.threads)
            manifest = draft.model_copy(update={"recommended": recommended})
        write_manifest(stage, manifest)
        # drift is of camera frames, measured through the recommended artifact
        if shipped and manifest.task != "signal":
            reference = _reference(stage, task, data.val, data.source, request.threads)
            write_manifest(stage, manifest.model_copy(update={"reference": reference}))
    return load_bundle(request.out)


def _reference(
    stage: Path, task: Task, samples: Sequence[Any], source: str, threads: int | None
) -> ReferenceStats:
    """Drift monitoring's reference: the validation frames' brightness, contrast and sharpness, and the
    confidence the bundle's default artifact gives them, measured by the code the daemon runs."""
    frames = [task.frame(sample) for sample in samples]
    described = f"{len(frames)} validation frames of {source}, measured through the bundle at export"
    return measure_frames(load_bundle(stage), frames, source=described, threads=threads)


def _gated(
    ctx: BuildContext, specs: list[FormatSpec], measurer: Measurer, request: ExportRequest, stage: Path
) -> tuple[list[Artifact], GateBudget, FloorResult]:
    """Every artifact measured and judged against the true-FP32 reference, as manifest entries; none
    ships when the reference is below the task's floor (unless the request accepts that)."""
    reference = Candidate(REFERENCE, ctx.produced[REFERENCE])
    reports = {split: measurer.measure(reference, split, "f32").report for split in ("val", "test")}
    budget = request.budget
    if isinstance(budget, GateChoice):
        budget = budget.resolve(
            ctx.task,
            lambda name: all(name in r.per_class and name not in r.not_measured() for r in reports.values()),
        )
    for split, report in reports.items():
        missing = [name for name in budget.safety_classes if name in report.not_measured()]
        if missing:
            raise ExportError(
                f"safety class(es) {missing} have no sample in the {split} split; the gate cannot hold them"
            )
    floor = check_floor(
        ctx.task.metric, reports["val"].value, ctx.task.floor(measurer.data.val), request.floor
    )
    (log.info if floor.passed else log.error)("floor: %s", floor.message)
    gate = Gate(ctx.task, measurer, budget, lambda candidate, rung: quantize(ctx, rung, candidate.path))
    artifacts = []
    for spec in specs:
        candidate = Candidate(spec.key, ctx.produced[spec.key])
        if spec.key == REFERENCE:
            verdict = reference_verdict(gate, candidate)
        else:
            first, rungs = _rungs(ctx.options.get(spec.key), request.fix_ladder)
            try:
                verdict = judge_candidate(gate, candidate, reports, first, rungs)
            except ArtifactFailed as exc:
                log.error("%s", exc)
                verdict = failed_verdict(exc)
        if floor.refused:
            verdict = replace(verdict, passed=False, note=f"rejected: {floor.message}; {verdict.note}")
        artifacts.append(_artifact(stage, spec, verdict, ctx.task.class_figures))
    return artifacts, budget, floor


def _site_evaluation(
    task: Task,
    interface: ModelInterface,
    data: TaskData,
    folder: Path,
    artifacts: list[Artifact],
    stage: Path,
    threads: int | None,
) -> dict[str, Any]:
    """Every shipped artifact on the site's frames, beside its figure on the original test split: a
    model retrained for a site must do well there without forgetting the rest (reported, not gated)."""
    samples = task.read_labelled(folder, data.classes)
    site = TaskData(data.classes, [], [], samples, data.fingerprint, str(folder))
    measurer = Measurer(task, interface, site, threads)
    figures = {}
    for artifact in artifacts:
        if artifact.status == "shipped":
            report = measurer.measure(Candidate(artifact.key, stage / artifact.file), "test").report
            figures[artifact.key] = {"site": report.value, "test": artifact.metrics[task.metric]}
    return {"source": str(folder), "samples": len(samples), "metric": task.metric, "artifacts": figures}


def _recommended(bundle: Bundle, threads: int | None) -> Recommendation:
    """The fastest artifact the gate shipped, on this machine: what the device runs unless its site names
    another or ``adit select`` re-decides there for its own CPU."""
    created = datetime.now(UTC).isoformat(timespec="seconds")
    recommendation = recommend(
        bundle, p50_latencies(bundle, RECOMMEND_SECONDS, threads), str(host_info()["cpu"]), created
    )
    log.info("recommended: %s (p50 ms: %s)", recommendation.artifact, recommendation.p50_ms)
    return recommendation


def _max_drop(budget: GateBudget | GateChoice, task: Task) -> float:
    """The metric's budget, which NNCF's accuracy control also works to."""
    return task.gate.max_drop_pp if budget.max_drop_pp is None else budget.max_drop_pp


def _gate_record(task: Task, budget: GateBudget, floor: FloorResult) -> dict[str, object]:
    """What the manifest says about how its artifacts were judged."""
    return {
        "metric": task.metric,
        "class_figure": task.class_figure,
        "reference": f"{REFERENCE} run in f32",
        "chosen_on": "val",
        "reported_on": "test",
        **budget.as_dict(),
        "floor": floor.as_dict(),
    }


def _build(ctx: BuildContext, spec: FormatSpec, stage: Path) -> float:
    """One format, timed; returns its seconds."""
    started = time.perf_counter()
    target = stage / spec.file
    target.parent.mkdir(parents=True, exist_ok=True)
    spec.build(ctx, target)
    ctx.produced[spec.key] = target
    seconds = round(time.perf_counter() - started, 2)
    log.info("%s -> %s (%.1f s)", spec.key, spec.file, seconds)
    return seconds


def _rungs(options: Any, fix_ladder: bool) -> tuple[Rung, list[Rung]]:
    """The artifact as built, and what the ladder may try after it."""
    if isinstance(options, OrtQuantOptions | NncfQuantOptions):
        return first_rung(options), fixes(options) if fix_ladder else []
    return Rung("as-built"), []


_FILE_FIELDS = {"file", "sha256", "bytes", "format", "precision", "weights", "data"}


def _artifact(root: Path, spec: FormatSpec, verdict: Verdict, class_figures: tuple[str, ...]) -> Artifact:
    # every file the runtime reads for it (OpenVINO's .bin, ONNX external data), digested as written
    return Artifact(
        **artifact_entry(root, spec.key, root / spec.file).model_dump(include=_FILE_FIELDS),
        metrics=verdict.report.manifest_metrics(*class_figures) if verdict.report else {},
        status="shipped" if verdict.passed else "rejected",
        note=verdict.note,
        runtime_precision=verdict.runtime_precision or None,
        attempts=verdict.attempts,
        precision_hint=verdict.precision_hint,
    )


@contextmanager
def _staged(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out``; on success it replaces ``out`` by renames, on failure it is removed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    previous = out.with_name(f".{out.name}.previous-{os.getpid()}")
    if out.exists():
        os.replace(out, previous)
    os.replace(stage, out)
    shutil.rmtree(previous, ignore_errors=True)
