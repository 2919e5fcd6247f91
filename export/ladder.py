"""The gate's fix ladder: when an INT8 artifact misses the budget, try the known fixes in order.

Each rung is one way to rebuild the artifact; the caller rebuilds, measures it through edge_runtime
and judges it, and the ladder stops at the first rung that passes. Every attempt is recorded, so a
rejected INT8 carries the figures of everything that was tried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_runtime.bundle import QuantAttempt
from export.options import NncfQuantOptions, OrtQuantOptions


@dataclass(frozen=True)
class Rung:
    method: str
    options: OrtQuantOptions | NncfQuantOptions
    accuracy_control: bool = False  # NNCF's quantize_with_accuracy_control instead of plain PTQ


def first_rung(options: OrtQuantOptions | NncfQuantOptions) -> Rung:
    if isinstance(options, OrtQuantOptions):
        return Rung(f"ort-{options.calibration}", options)
    return Rung(f"nncf-{options.preset}", options)


def fixes(options: OrtQuantOptions | NncfQuantOptions) -> list[Rung]:
    """The rungs after the first, cheapest first; none repeats what the first rung already did."""
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
        rungs.append(Rung("nncf-full-bias-correction", options.model_copy(update={"fast_bias_correction": False})))
    rungs.append(Rung("nncf-accuracy-control", options, accuracy_control=True))
    return rungs


# Rebuilds the artifact by one rung and returns the attempt as judged (measured through edge_runtime).
TryRung = Callable[[Rung], QuantAttempt]


def climb(first: QuantAttempt, rungs: list[Rung], attempt: TryRung) -> list[QuantAttempt]:
    """All attempts in order, ending at the first that passed or after the last rung."""
    attempts = [first]
    for rung in rungs:
        if attempts[-1].passed:
            break
        attempts.append(attempt(rung))
    return attempts
