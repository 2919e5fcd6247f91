"""The accuracy gate: an artifact ships only if, as the device runs it, it is within budget of true FP32.

The reference is the FP32 ONNX artifact run in f32 (forced), never an FP32 artifact that a runtime
computes in bf16; every other artifact (INT8, FP16, and FP32 that ran in bf16) is held to it on the
task's metric and, for safety classes, on the task's per-class figure (recall, AP@0.5, IoU).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from train.evaluation import EvalReport


@dataclass(frozen=True)
class GateBudget:
    max_drop_pp: float = 0.5  # percentage points of the task's metric an artifact may lose
    max_class_drop_pp: float = 0.0  # for the per-class figure of safety-critical classes
    safety_classes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "max_drop_pp": self.max_drop_pp,
            "max_class_drop_pp": self.max_class_drop_pp,
            "safety_classes": list(self.safety_classes),
        }


@dataclass(frozen=True)
class GateResult:
    passed: bool
    drop_pp: float
    reasons: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        return (
            f"within budget ({self.drop_pp:.2f} pp)"
            if self.passed
            else "rejected: " + "; ".join(self.reasons)
        )


def judge(reference: EvalReport, candidate: EvalReport, budget: GateBudget, class_figure: str) -> GateResult:
    """Compare a candidate's report with the true-FP32 reference's, on the same samples."""
    reasons = []
    metric = reference.metric
    drop = 100 * (reference.value - candidate.value)
    if drop > budget.max_drop_pp:
        reasons.append(
            f"{metric} {100 * candidate.value:.2f} is {drop:.2f} pp below FP32 {100 * reference.value:.2f} "
            f"(budget {budget.max_drop_pp} pp)"
        )
    for name in budget.safety_classes:
        want, got = reference.class_value(name, class_figure), candidate.class_value(name, class_figure)
        if want is None or got is None:
            reasons.append(
                f"{class_figure} of safety class {name!r} is not measured (no sample of it in the split)"
            )
            continue
        class_drop = 100 * (want - got)
        if class_drop > budget.max_class_drop_pp:
            reasons.append(
                f"{class_figure} of safety class {name!r} dropped {class_drop:.2f} pp "
                f"(budget {budget.max_class_drop_pp} pp)"
            )
    return GateResult(passed=not reasons, drop_pp=drop, reasons=reasons)
