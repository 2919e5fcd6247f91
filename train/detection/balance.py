"""Class-balanced sampling for detection: LVIS repeat-factor sampling, as sampler weights.

An image is drawn ``max(1, sqrt(threshold / f_c))`` times as often as usual, where ``f_c`` is the
share of training images that contain class ``c`` and the maximum runs over the classes it holds:
images with a rare class (no-helmet: 94 boxes against 2,294 persons in the PPE set) come back more
often without any image being dropped. The weights feed ``train.sampling.EpochSampler``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def repeat_factors(labels: Sequence[np.ndarray], num_classes: int, threshold: float = 0.1) -> np.ndarray:
    """One weight per image (>= 1); ``labels`` holds each image's box class indices."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    present = np.zeros((len(labels), num_classes), bool)
    for row, image_labels in enumerate(labels):
        present[row, np.asarray(image_labels, np.int64)] = True
    share = present.mean(axis=0)
    per_class = np.maximum(1.0, np.sqrt(threshold / np.maximum(share, 1e-12)))
    return np.where(present, per_class, 1.0).max(axis=1, initial=1.0)
