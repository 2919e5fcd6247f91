"""Which frames are hard examples: cheap tests run on every frame on the inference thread.

- ``margin``: a classifier's top two classes are within ``margin_below`` of each other;
- ``near_threshold``: a rule's label scored within ``near_threshold`` of the rule's ``min_score``
  (segmentation: its share within that of ``min_area``), where a small change flips an alarm; a
  detector's boxes under the bundle's score filter count too (a near miss the rules never see);
- ``flicker``: the frame's answer went A, B, A over three consecutive frames of a camera.

Shadow disagreement and operator feedback are reasons too; they are found elsewhere (``shadow``,
the dashboard) and reach the same ``CaptureStore``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np

from edge_runtime.config.rules import RuleConfig
from edge_runtime.postprocess import Classification, Detections, Prediction, Segmentation
from edge_runtime.siteloop.config import CaptureConfig

Reason = Literal["margin", "near_threshold", "flicker", "shadow_disagreement", "event", "feedback"]
DETECTION_FLOOR = 0.5  # a box counts in a detector's answer (flicker) from this score


def answer(prediction: Prediction) -> Hashable:
    """What a frame's prediction says, to compare across frames: the top class, or the classes seen."""
    if isinstance(prediction, Classification):
        return prediction.label
    if isinstance(prediction, Detections):
        return tuple(sorted({d.label for d in prediction.objects if d.score >= DETECTION_FLOOR}))
    if isinstance(prediction, Segmentation):
        return tuple(sorted(label for label, share in prediction.fractions.items() if share > 0.0))
    raise TypeError(f"cannot compare a {type(prediction).__name__}")


class HardExampleSelector:
    def __init__(self, config: CaptureConfig, rules: Sequence[RuleConfig], classes: Sequence[str]) -> None:
        self.config = config
        self.rules = list(rules)
        self._index = {name: i for i, name in enumerate(classes)}
        self._answers: dict[str, deque[Hashable]] = {}

    def reasons(self, camera: str, prediction: Prediction) -> list[Reason]:
        found: list[Reason] = []
        if isinstance(prediction, Classification) and margin_of(prediction) < self.config.margin_below:
            found.append("margin")
        if any(self._near(rule, prediction) for rule in self.rules if rule.watches(camera)):
            found.append("near_threshold")
        if self.config.flicker and self._flickers(camera, answer(prediction)):
            found.append("flicker")
        return found

    def _near(self, rule: RuleConfig, prediction: Prediction) -> bool:
        band = self.config.near_threshold
        if isinstance(prediction, Classification):
            scores = [
                float(prediction.probabilities[self._index[label]])
                for label in rule.labels
                if label in self._index
            ]
            return any(abs(score - rule.min_score) <= band for score in scores)
        if isinstance(prediction, Detections):
            scored = [(d.label, d.score) for d in prediction.objects] + prediction.below_filter
            return any(
                label in rule.labels and abs(score - rule.min_score) <= band for label, score in scored
            )
        if isinstance(prediction, Segmentation):
            return rule.min_area > 0 and any(
                abs(prediction.fractions.get(label, 0.0) - rule.min_area) <= band for label in rule.labels
            )
        return False

    def _flickers(self, camera: str, current: Hashable) -> bool:
        seen = self._answers.setdefault(camera, deque(maxlen=3))
        seen.append(current)
        return len(seen) == 3 and seen[0] == seen[2] != seen[1]


def margin_of(prediction: Classification) -> float:
    """Top-1 minus top-2 probability: how unsure a classifier is (1 with a single class)."""
    probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
    if probabilities.size < 2:
        return 1.0
    top = np.partition(probabilities, -2)[-2:]
    return float(top[1] - top[0])
