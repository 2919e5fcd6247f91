"""The accuracy gate: an artifact ships only if, as the device runs it, it is within budget of true FP32,
and only if true FP32 itself reaches the task's absolute floor (a useless model never "ships").

The reference is the FP32 ONNX artifact run in f32 (forced), never an FP32 artifact that a runtime
computes in bf16; every other artifact (INT8, FP16, and FP32 that ran in bf16) is held to it on the
task's metric and, for safety classes, on the task's per-class figure (recall, AP@0.5, IoU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from train.evaluation import EvalReport
from train.task import Task


@dataclass(frozen=True)
class GateBudget:
    max_drop_pp: float = 0.5  # percentage points of the task's metric an artifact may lose
    max_class_drop_pp: float = 0.0  # for the per-class figures of safety-critical classes
    safety_classes: tuple[str, ...] = ()
    max_per_class_drop_pp: float | None = None  # for every class's per-class figure; None: not held
    safety_figures: tuple[str, ...] = ()  # per-class figures besides the task's that safety classes keep

    def as_dict(self) -> dict[str, object]:
        return {
            "max_drop_pp": self.max_drop_pp,
            "max_class_drop_pp": self.max_class_drop_pp,
            "safety_classes": list(self.safety_classes),
            "safety_figures": list(self.safety_figures),
            "max_per_class_drop_pp": self.max_per_class_drop_pp,
        }


@dataclass(frozen=True)
class GateChoice:
    """What the command line chose; None leaves the task's default (``Task.gate``)."""

    max_drop_pp: float | None = None
    max_class_drop_pp: float | None = None
    max_per_class_drop_pp: float | None = None
    safety_classes: tuple[str, ...] | None = None

    def resolve(self, task: Task, measured: Callable[[str], bool]) -> GateBudget:
        """The budget export applies: choices over the task's defaults, resolved once. The task's default
        safety classes are kept where ``measured`` (the model has them and both splits hold them)."""
        defaults = task.gate
        safety = self.safety_classes
        if safety is None:
            safety = tuple(name for name in defaults.safety_classes if measured(name))
        per_class = self.max_per_class_drop_pp
        return GateBudget(
            max_drop_pp=defaults.max_drop_pp if self.max_drop_pp is None else self.max_drop_pp,
            max_class_drop_pp=(
                defaults.max_class_drop_pp if self.max_class_drop_pp is None else self.max_class_drop_pp
            ),
            safety_classes=safety,
            max_per_class_drop_pp=defaults.max_per_class_drop_pp if per_class is None else per_class,
            safety_figures=defaults.safety_figures,
        )


@dataclass(frozen=True)
class Floor:
    """The absolute floor: an FP32 model below it is not fit to deploy, and nothing of it ships."""

    min_metric: float | None = None  # None: the task's default (``Task.floor``)
    accept_below: bool = False  # the explicit override: ship anyway, recorded in the manifest


@dataclass(frozen=True)
class FloorResult:
    metric: str
    value: float  # the true-FP32 reference on the validation split
    floor: float
    source: str  # where the floor came from
    accepted_below: bool

    @property
    def passed(self) -> bool:
        return self.value >= self.floor

    @property
    def refused(self) -> bool:
        return not self.passed and not self.accepted_below

    @property
    def message(self) -> str:
        figure = f"FP32 {self.metric} {100 * self.value:.2f}% on the validation split"
        if self.passed:
            return f"{figure} is at or above the floor {100 * self.floor:.2f}% ({self.source})"
        verdict = (
            "shipped anyway: --accept-below-floor was given"
            if self.accepted_below
            else "the model is not fit to deploy"
        )
        return f"{figure} is below the floor {100 * self.floor:.2f}% ({self.source}): {verdict}"

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "value": self.value,
            "floor": self.floor,
            "source": self.source,
            "passed": self.passed,
            "override": self.accepted_below,
        }


def check_floor(task_metric: str, value: float, default: float, floor: Floor) -> FloorResult:
    """The reference's validation figure against the configured (or the task's default) floor."""
    chosen, source = (
        (default, "the task's default") if floor.min_metric is None else (floor.min_metric, "--min-metric")
    )
    return FloorResult(task_metric, value, chosen, source, floor.accept_below)


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
    """Compare a candidate's report with the true-FP32 reference's, on the same samples: the metric,
    every class's ``class_figure`` (when budgeted), and each safety class's figures."""
    reasons = []
    metric = reference.metric
    drop = 100 * (reference.value - candidate.value)
    if drop > budget.max_drop_pp:
        reasons.append(
            f"{metric} {100 * candidate.value:.2f} is {drop:.2f} pp below FP32 {100 * reference.value:.2f} "
            f"(budget {budget.max_drop_pp} pp)"
        )
    if budget.max_per_class_drop_pp is not None:
        for name in reference.per_class:
            want, got = reference.class_value(name, class_figure), candidate.class_value(name, class_figure)
            if want is not None and got is not None and 100 * (want - got) > budget.max_per_class_drop_pp:
                reasons.append(
                    f"{class_figure} of class {name!r} dropped {100 * (want - got):.2f} pp "
                    f"(budget {budget.max_per_class_drop_pp} pp per class)"
                )
    figures = tuple(dict.fromkeys((class_figure, *budget.safety_figures)))
    for name in budget.safety_classes:
        for figure in figures:
            want, got = reference.class_value(name, figure), candidate.class_value(name, figure)
            if want is None or got is None:
                reasons.append(
                    f"{figure} of safety class {name!r} is not measured (no sample of it in the split)"
                )
                continue
            class_drop = 100 * (want - got)
            if class_drop > budget.max_class_drop_pp:
                reasons.append(
                    f"{figure} of safety class {name!r} dropped {class_drop:.2f} pp "
                    f"(budget {budget.max_class_drop_pp} pp)"
                )
    return GateResult(passed=not reasons, drop_pp=drop, reasons=reasons)
