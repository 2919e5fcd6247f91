"""Which hard examples to label when the labels are few: class-balanced and not near-duplicates.

The device keeps every frame its model is unsure of (``select``), under a rate limit and a disk quota;
a labelling round takes a budget of them. Taking simply the smallest margins spends the budget on the
one or two classes the new site confuses most, often on frames that look alike. ``pick`` instead goes
round the predicted classes, each time taking every class's least sure frame not yet taken (class-
balanced uncertainty sampling), and passes over a frame whose pHash is within ``near_bits`` of one
already picked (the data doctor's near-duplicate distance); passed-over frames fill the budget only
when nothing else is left. Deterministic: ties go to the earlier frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2

from edge_runtime.errors import ConfigError
from edge_runtime.phash import distance, phash
from edge_runtime.siteloop.captures import Capture

NEAR_BITS = 4  # pHash bits within which two frames are near duplicates (the data doctor's default)


@dataclass(frozen=True)
class Candidate:
    """One kept frame as the pick sees it: how unsure the model was, what it said, what it looks like."""

    margin: float  # top-1 minus top-2 probability: smaller is harder
    label: str  # the predicted class (the device has no other)
    phash: int


def pick(candidates: Sequence[Candidate], budget: int, near_bits: int = NEAR_BITS) -> list[int]:
    """Indices of at most ``budget`` candidates, in the order picked."""
    if budget < 0:
        raise ValueError(f"budget must be >= 0, not {budget}")
    queues: dict[str, deque[int]] = {}
    for index in sorted(range(len(candidates)), key=lambda i: (candidates[i].margin, i)):
        queues.setdefault(candidates[index].label, deque()).append(index)
    picked: list[int] = []
    passed: list[int] = []
    while len(picked) < budget and any(queues.values()):
        heads = sorted((candidates[q[0]].margin, q[0], label) for label, q in queues.items() if q)
        for _, _, label in heads:  # one round: each class's least sure frame, the least sure class first
            if len(picked) == budget:
                break
            queue = queues[label]
            while queue:
                index = queue.popleft()
                if any(distance(candidates[index].phash, candidates[i].phash) <= near_bits for i in picked):
                    passed.append(index)
                    continue
                picked.append(index)
                break
    passed.sort(key=lambda i: (candidates[i].margin, i))
    return picked + passed[: budget - len(picked)]


def pick_captures(captures: Sequence[Capture], budget: int, near_bits: int = NEAR_BITS) -> list[Capture]:
    """A labelling round of ``budget`` stored captures: those behind operator feedback first, then
    ``pick`` over the rest (classification captures: their stored probabilities give the margin)."""
    feedback = [c for c in captures if "feedback" in c.reasons]
    rest = [c for c in captures if "feedback" not in c.reasons]
    candidates = [_candidate(c) for c in rest]
    chosen = pick(candidates, max(0, budget - len(feedback)), near_bits)
    return feedback[:budget] + [rest[i] for i in chosen]


def _candidate(capture: Capture) -> Candidate:
    prediction = capture.prediction
    if prediction.get("task") != "classify":
        raise ConfigError(
            f"capture {capture.id}: a {prediction.get('task')} prediction; "
            "a budget picks among classification captures"
        )
    image = cv2.imread(str(capture.path))
    if image is None:
        raise ConfigError(f"capture {capture.id}: cannot read {capture.path}")
    top = sorted(prediction["probabilities"].values(), reverse=True)
    return Candidate(top[0] - top[1] if len(top) > 1 else 1.0, prediction["label"], phash(image))
