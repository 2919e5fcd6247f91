"""Which hard examples to label when the labels are few: a labelling round's pick, registered by name.

The device keeps every frame its model is unsure of (``select``), under a rate limit and a disk quota;
a labelling round takes a budget of them.

- ``margin`` (the default): the least sure frames first: a classifier's smallest top-1 minus top-2
  margins; a detector's frames whose boxes (those under its score filter too) come nearest to that filter.
  On the generated shifted site
  (docs/results/site-shift.md) 100 such labels took the classifier to 84.9 %, against 83.9 % for the
  mean of two random draws of 100.
- ``balanced`` (opt-in): round the *predicted* classes, each time taking every class's least sure frame
  not yet taken, passing over a frame whose pHash is within ``NEAR_BITS`` of one already picked
  (passed-over frames fill the budget only when nothing else is left). Measured **worse** on that
  site, 74.6 %: the unsure frames were mostly predicted as one class, and balancing by the prediction
  capped exactly the frames the round had to fix. Kept for sites whose captures repeat one scene
  (it was not measured on such a site).

Deterministic: ties go to the earlier frame.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2

from edge_runtime.errors import ConfigError
from edge_runtime.phash import distance, phash
from edge_runtime.registry import Registry
from edge_runtime.siteloop.captures import Capture

NEAR_BITS = 4  # pHash bits within which two frames are near duplicates (the data doctor's default)
DEFAULT = "margin"


@dataclass(frozen=True)
class Candidate:
    """One kept frame as a pick sees it: how unsure the model was, what it said, what it looks like."""

    margin: float  # how sure the model was, smaller is harder: top-1 minus top-2, or ``detection_margin``
    label: str  # the predicted class (a detector: its highest-scoring box's; the device has no other)
    phash: int | None = None  # only a pick that ``looks`` needs it (reading every image costs)


@dataclass(frozen=True)
class Pick:
    """Indices of at most ``budget`` candidates, in the order picked; ``looks``: it compares pHashes."""

    choose: Callable[[Sequence[Candidate], int], list[int]]
    looks: bool


_PICKS: Registry[Pick] = Registry("labelling pick")


def list_picks() -> list[str]:
    return _PICKS.names()


def pick(name: str, candidates: Sequence[Candidate], budget: int) -> list[int]:
    """The pick called ``name`` over ``candidates``: indices of at most ``budget``, in the order picked."""
    if budget < 0:
        raise ValueError(f"budget must be >= 0, not {budget}")
    return _PICKS.require(name).choose(candidates, budget)


def _by_margin(candidates: Sequence[Candidate]) -> list[int]:
    return sorted(range(len(candidates)), key=lambda i: (candidates[i].margin, i))


def smallest_margins(candidates: Sequence[Candidate], budget: int) -> list[int]:
    return _by_margin(candidates)[:budget]


def balanced(candidates: Sequence[Candidate], budget: int, near_bits: int = NEAR_BITS) -> list[int]:
    looks = [c.phash for c in candidates if c.phash is not None]
    if len(looks) != len(candidates):
        raise ValueError("the balanced pick compares pHashes: every candidate needs one")
    queues: dict[str, deque[int]] = {}
    for index in _by_margin(candidates):
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
                if any(distance(looks[index], looks[i]) <= near_bits for i in picked):
                    passed.append(index)
                    continue
                picked.append(index)
                break
    passed.sort(key=lambda i: (candidates[i].margin, i))
    return picked + passed[: budget - len(picked)]


_PICKS.register("margin")(Pick(smallest_margins, looks=False))
_PICKS.register("balanced")(Pick(balanced, looks=True))


def pick_captures(captures: Sequence[Capture], budget: int, name: str = DEFAULT) -> list[Capture]:
    """A labelling round of ``budget`` stored captures: those behind operator feedback first, then the
    pick called ``name`` over the rest (their stored predictions give the margin)."""
    looks = _PICKS.require(name).looks
    feedback = [c for c in captures if "feedback" in c.reasons]
    rest = [c for c in captures if "feedback" not in c.reasons]
    chosen = pick(name, [_candidate(c, looks) for c in rest], max(0, budget - len(feedback)))
    return feedback[:budget] + [rest[i] for i in chosen]


def detection_margin(scores: Sequence[float], score_filter: float) -> float:
    """A detector's frame as a margin (smaller is harder): its nearest box's distance to the score filter
    (boxes under the filter count: near misses), 1 without any box.

    Counting the boxes near the filter instead was measured on the shifted site (docs/results/site-shift.md):
    the same mAP@0.5 after retraining (75.7 % against 75.8 %) for 1.7 times the boxes to label.
    """
    return min((abs(score - score_filter) for score in scores), default=1.0)


def _candidate(capture: Capture, looks: bool) -> Candidate:
    prediction = capture.prediction
    if prediction.get("task") == "classify":
        top = sorted(prediction["probabilities"].values(), reverse=True)
        margin, label = (top[0] - top[1] if len(top) > 1 else 1.0), prediction["label"]
    elif prediction.get("task") == "detect" and prediction.get("score_filter") is not None:
        boxes = prediction["objects"] + prediction["below_filter"]
        margin = detection_margin([b["score"] for b in boxes], prediction["score_filter"])
        label = max(prediction["objects"], key=lambda b: b["score"], default={"label": ""})["label"]
    else:
        raise ConfigError(
            f"capture {capture.id}: a {prediction.get('task')} prediction without what a pick ranks by; "
            "a budget picks among classification captures and detection captures that store their "
            "score filter (captured by this version)"
        )
    if not looks:
        return Candidate(margin, label)
    image = cv2.imread(str(capture.path))
    if image is None:
        raise ConfigError(f"capture {capture.id}: cannot read {capture.path}")
    return Candidate(margin, label, phash(image))
