"""The calibration set: a fixed, seeded, class-balanced subset of the training images.

Images go through edge_runtime's preprocessing, so INT8 ranges are measured on exactly the
tensors the device will feed the model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.bundle import InputSpec
from edge_runtime.preprocess import preprocess, read_image
from train.data import Sample


@dataclass(frozen=True)
class CalibrationSet:
    batches: list[np.ndarray]  # one preprocessed (1, C, H, W) tensor per image
    files: list[str]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.files).encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.batches)


def balanced_subset(samples: list[Sample], size: int, seed: int) -> list[Sample]:
    """Round-robin over classes in a seeded order until ``size`` images are drawn."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[Sample]] = {}
    for sample in samples:
        by_class.setdefault(sample.label, []).append(sample)
    queues = [list(rng.permutation(group)) for _, group in sorted(by_class.items())]
    chosen: list[Sample] = []
    while len(chosen) < size and any(queues):
        for queue in queues:
            if queue and len(chosen) < size:
                chosen.append(queue.pop())
    return chosen


def build_calibration_set(samples: list[Sample], spec: InputSpec, size: int = 100, seed: int = 0) -> CalibrationSet:
    chosen = balanced_subset(samples, size, seed)
    return CalibrationSet(
        batches=[preprocess(read_image(s.path), spec) for s in chosen],
        files=[f"{Path(s.path).parent.name}/{Path(s.path).name}" for s in chosen],
    )
