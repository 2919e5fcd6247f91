"""Measure an artifact on held-out images through edge_runtime: the exact code the device runs."""

from __future__ import annotations

import numpy as np

from edge_runtime.model import BundleModel
from edge_runtime.preprocess import read_image
from train.data import Sample
from train.metrics import classification_report


def evaluate_classifier(model: BundleModel, samples: list[Sample], batch_size: int = 16) -> dict:
    """Top-1, per-class precision/recall/F1 and the confusion matrix of one artifact."""
    predictions: list[int] = []
    for start in range(0, len(samples), batch_size):
        frames = [read_image(s.path) for s in samples[start : start + batch_size]]
        predictions.extend(c.index for c in model.classify(frames))
    targets = np.array([s.label for s in samples])
    return classification_report(targets, np.array(predictions), model.manifest.classes)
