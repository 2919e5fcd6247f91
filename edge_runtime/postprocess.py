"""Task post-processing: raw model outputs -> predictions the rules and reports understand."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Classification:
    """The top class of one frame and the full probability vector."""

    index: int
    label: str
    score: float
    probabilities: np.ndarray


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def classify(outputs: list[np.ndarray], classes: list[str], *, apply_softmax: bool = True) -> list[Classification]:
    """Decode a (N, num_classes) output; ``apply_softmax`` is False when the model emits probabilities."""
    logits = np.asarray(outputs[0], dtype=np.float32).reshape(len(outputs[0]), -1)
    probabilities = softmax(logits) if apply_softmax else logits
    best = probabilities.argmax(axis=1)
    return [
        Classification(index=int(i), label=classes[int(i)], score=float(p[i]), probabilities=p)
        for i, p in zip(best, probabilities, strict=True)
    ]
