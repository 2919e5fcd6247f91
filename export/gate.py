"""The accuracy gate: an INT8 artifact ships only if its measured drop against FP32 is in budget."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateBudget:
    max_top1_drop_pp: float = 0.5  # percentage points of top-1 the INT8 model may lose
    max_recall_drop_pp: float = 0.0  # for classes marked safety-critical
    safety_classes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"max_top1_drop_pp": self.max_top1_drop_pp, "max_recall_drop_pp": self.max_recall_drop_pp,
                "safety_classes": list(self.safety_classes)}


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        return "within budget" if self.passed else "rejected: " + "; ".join(self.reasons)


def judge(reference: dict, candidate: dict, budget: GateBudget) -> GateResult:
    """Compare two ``classification_report`` dicts (FP32 reference vs INT8 candidate)."""
    reasons = []
    drop = 100 * (reference["top1"] - candidate["top1"])
    if drop > budget.max_top1_drop_pp:
        reasons.append(f"top-1 {100 * candidate['top1']:.2f}% is {drop:.2f} pp below FP32 (budget {budget.max_top1_drop_pp} pp)")
    for name in budget.safety_classes:
        recall_drop = 100 * (reference["per_class"][name]["recall"] - candidate["per_class"][name]["recall"])
        if recall_drop > budget.max_recall_drop_pp:
            reasons.append(f"recall of safety class {name!r} dropped {recall_drop:.2f} pp (budget {budget.max_recall_drop_pp} pp)")
    return GateResult(passed=not reasons, reasons=reasons)
