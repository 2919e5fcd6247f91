"""One artifact through the gate: measure, climb the fix ladder on the validation split, report on test.

Every decision (which rung, ship or reject) is taken on the validation split; the chosen artifact
is then measured once on the held-out test split, which the manifest reports, drop included. Test
data decides nothing, so a reported INT8 figure is an unbiased one, not the best of several tries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge_runtime.bundle import InferencePrecision, QuantAttempt
from export.gate import GateBudget, judge
from export.ladder import FORCE_F32, Rung, climb
from export.measure import Candidate, Measured, Measurer, digest
from train.evaluation import EvalReport
from train.task import Task

log = logging.getLogger(__name__)

REFERENCE = "onnx-fp32"  # run in f32 on ONNX Runtime: the true FP32 every other artifact is held to
HINTS: dict[str, InferencePrecision] = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}


@dataclass(frozen=True)
class Gate:
    task: Task
    measurer: Measurer
    budget: GateBudget
    rebuild: Callable[[Candidate, Rung], None]  # rebuilds an INT8 candidate in place by a rung


@dataclass(frozen=True)
class Verdict:
    report: EvalReport | None  # on the held-out test split; None: it could not be run
    runtime_precision: str
    precision_hint: InferencePrecision | None
    passed: bool
    note: str
    attempts: list[QuantAttempt]


def reference_verdict(gate: Gate, candidate: Candidate) -> Verdict:
    test = gate.measurer.measure(candidate, "test", "f32")
    samples = test.report.samples
    note = f"the true-FP32 reference; evaluated on {samples} held-out test samples, ran in {test.precision}"
    return Verdict(test.report, test.precision, None, True, note, [])


def failed_verdict(error: Exception) -> Verdict:
    return Verdict(None, "", None, False, f"rejected: {error}", [])


def judge_candidate(
    gate: Gate, candidate: Candidate, reference: dict[str, EvalReport], first: Rung, rungs: list[Rung]
) -> Verdict:
    """Measure ``candidate`` as built (``first``), climb ``rungs`` while it misses, then report on test."""
    figure = gate.task.class_figure
    hint: str | None = None  # the inference precision of the latest attempt
    seen = {digest(candidate.path): first.method}
    notes: list[str] = []

    def record(rung: Rung, measured: Measured) -> QuantAttempt:
        verdict = judge(reference["val"], measured.report, gate.budget, figure)
        metrics = measured.report.manifest_metrics(figure)
        return QuantAttempt(
            method=rung.method,
            options=rung.record(),
            metrics=metrics,
            passed=verdict.passed,
            note=verdict.note,
        )

    def attempt(rung: Rung) -> QuantAttempt | None:
        nonlocal hint
        if rung.options is not None:
            gate.rebuild(candidate, rung)
            built = digest(candidate.path)
            if built in seen:  # e.g. ORT writes the same model for entropy as for minmax calibration
                notes.append(f"{rung.method} wrote the same model as {seen[built]} (not counted)")
                log.info("%s: %s", candidate.key, notes[-1])
                return None
            seen[built] = rung.method
        hint = rung.precision_hint or hint
        log.warning("%s missed the budget on the validation split; trying %s", candidate.key, rung.method)
        return record(rung, gate.measurer.measure(candidate, "val", hint))

    first_val = gate.measurer.measure(candidate, "val", None)
    if candidate.format == "openvino" and not first_val.precision.endswith("fp32"):
        rungs = [*rungs, FORCE_F32]  # the runtime chose a reduced precision: f32 is the last fix
    attempts = climb(record(first, first_val), rungs, attempt)
    test = gate.measurer.measure(candidate, "test", hint)
    truth = reference["test"]
    on_test = f"{truth.metric} {100 * test.report.value:.2f} against FP32 {100 * truth.value:.2f}"
    passed = attempts[-1].passed  # the test split is reported; it decides nothing
    note = (
        f"evaluated on {test.report.samples} held-out test samples; ran in {test.precision}; "
        f"gate on validation: {attempts[-1].note}; on test: {on_test}"
    )
    if len(attempts) > 1:
        note += f" (after {len(attempts)} attempts: {', '.join(a.method for a in attempts)})"
    if notes:
        note += "; " + "; ".join(notes)
    precision_hint = (
        HINTS.get(test.precision.removeprefix("int8+")) if candidate.format == "openvino" else None
    )
    return Verdict(test.report, test.precision, precision_hint, passed, note, attempts)
