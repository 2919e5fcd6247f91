"""The calibration set: a fixed, seeded subset of the training samples, balanced across strata.

Samples go through the model's own preprocessing (``Predictor.prepare``: images or signal
windows), so INT8 ranges are measured on exactly the tensors the device will feed the model.
A task's strata are its classes where it has one per sample (classify, signal), else one stratum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from train.task import Task


@dataclass(frozen=True)
class CalibrationSet:
    batches: list[np.ndarray]  # one preprocessed (1, ...) tensor per sample
    names: list[str]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.names).encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.batches)


def balanced_subset(strata: Sequence[int], size: int, seed: int) -> list[int]:
    """Indices, round-robin over strata in a seeded order, until ``size`` are drawn."""
    rng = np.random.default_rng(seed)
    groups: dict[int, list[int]] = {}
    for index, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(index)
    queues = [[int(i) for i in rng.permutation(group)] for _, group in sorted(groups.items())]
    chosen: list[int] = []
    while len(chosen) < size and any(queues):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(queue.pop())
    return chosen


def calibration_set(
    task: Task,
    samples: Sequence[Any],
    prepare: Callable[[list[np.ndarray]], np.ndarray],
    size: int,
    seed: int,
) -> CalibrationSet:
    """``prepare``: the model's preprocessing (``Predictor.prepare``), frames -> input tensor."""
    chosen = balanced_subset([task.stratum(s) for s in samples], size, seed)
    return CalibrationSet(
        batches=[prepare([task.frame(samples[i])]) for i in chosen],
        names=[_name(samples[i], i) for i in chosen],
    )


def _name(sample: Any, index: int) -> str:
    """A file's folder and name, or (signal windows) the recording and the window's index."""
    path = getattr(sample, "path", None)
    return (
        f"{path.parent.name}/{path.name}"
        if path is not None
        else f"{getattr(sample, 'source', 'sample')}#{index}"
    )
