"""The gate's fix ladder: when an artifact misses the budget, try the known fixes in order.

Each rung is one way to rebuild the artifact (another calibration, preset or bias correction, or
NNCF's accuracy control) or to run it (f32 forced where the runtime chose bf16). The caller
rebuilds, measures on the validation split and judges; the ladder stops at the first rung that
passes. A rebuild that writes the very same bytes as an earlier rung changes nothing: it is not an
attempt. Every attempt is recorded, so a rejected artifact carries the figures of everything tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_runtime.bundle import QuantAttempt
from export.options import NncfQuantOptions, OrtQuantOptions

QuantOptions = OrtQuantOptions | NncfQuantOptions


@dataclass(frozen=True)
class Rung:
    method: str
    options: QuantOptions | None = None  # how to rebuild; None: the artifact stays as it is
    accuracy_control: bool = False  # NNCF's quantize_with_accuracy_control instead of plain PTQ
    precision_hint: str | None = None  # the inference precision it is measured (and shipped) in

    def record(self) -> dict[str, object]:
        """The rung's settings as the manifest's attempt records them."""
        options: dict[str, object] = self.options.model_dump(mode="json") if self.options is not None else {}
        if self.accuracy_control:
            options["accuracy_control"] = True
        if self.precision_hint is not None:
            options["precision_hint"] = self.precision_hint
        return options


def first_rung(options: QuantOptions) -> Rung:
    if isinstance(options, OrtQuantOptions):
        return Rung(f"ort-{options.calibration}", options)
    return Rung(f"nncf-{options.preset}", options)


def fixes(options: QuantOptions) -> list[Rung]:
    """The rebuild rungs after the first, cheapest first; none repeats what the first rung already did."""
    if isinstance(options, OrtQuantOptions):
        # Entropy (KL) and percentile clip the outliers that make min/max ranges coarse.
        return [
            Rung(f"ort-{method}", options.model_copy(update={"calibration": method}))
            for method in ("entropy", "percentile")
            if method != options.calibration
        ]
    rungs = []
    if options.preset != "mixed":  # asymmetric activations suit non-ReLU models
        rungs.append(Rung("nncf-mixed", options.model_copy(update={"preset": "mixed"})))
    if options.fast_bias_correction:
        rungs.append(
            Rung("nncf-full-bias-correction", options.model_copy(update={"fast_bias_correction": False}))
        )
    rungs.append(Rung("nncf-accuracy-control", options, accuracy_control=True))
    return rungs


FORCE_F32 = Rung("force-f32", precision_hint="f32")  # bf16 lost too much: run the layers in f32


# Rebuilds (or re-runs) the artifact by one rung and returns the attempt as judged on the validation
# split, or None when the rung wrote the same bytes as an earlier one (nothing was tried).
TryRung = Callable[[Rung], QuantAttempt | None]


def climb(first: QuantAttempt, rungs: list[Rung], attempt: TryRung) -> list[QuantAttempt]:
    """All attempts in order, ending at the first that passed or after the last rung."""
    attempts = [first]
    for rung in rungs:
        if attempts[-1].passed:
            break
        result = attempt(rung)
        if result is not None:
            attempts.append(result)
    return attempts
