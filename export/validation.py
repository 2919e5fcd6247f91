"""The validation function NNCF's accuracy control calls: top-1 on held-out images.

Items are preprocessed by edge_runtime (the device's code), so the metric NNCF optimises is the
one the gate judges; only the compiled model call is NNCF's.
"""

from __future__ import annotations

import numpy as np
import openvino as ov

from edge_runtime.bundle import InputSpec
from edge_runtime.preprocess import preprocess, read_image
from train.data import Sample


def accuracy_items(samples: list[Sample], spec: InputSpec) -> list[tuple[np.ndarray, int]]:
    return [(preprocess(read_image(s.path), spec), s.label) for s in samples]


def top1_of_compiled(compiled: ov.CompiledModel, items: list[tuple[np.ndarray, int]]) -> float:
    if not items:
        return 0.0
    hits = sum(int(np.argmax(compiled([tensor])[0]) == label) for tensor, label in items)
    return hits / len(items)
