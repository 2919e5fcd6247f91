"""How heavily the video's belt is loaded over time: light, normal and overloaded stretches in a cycle.

The belt-load monitor needs a video whose load is known and changes: a belt that runs light for a
while (it should slow down) and one that is overloaded (it should raise an event). The plan is
given in video seconds and mapped onto the tape, so a stretch is on the belt's mid-frame point at
its planned time; the in-frame load ramps as a stretch scrolls in over the visible belt. Empty
stretches come from the event script and override the plan. What counts as ground truth is the
coal share measured in each drawn frame's mask, not this plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.synth.geometry import BeltView
from train.synth.timeline import BELT_SPEED_MPS

# Bed levels (0..1, how full the belt is; ``load.sample_load`` turns them into coal widths).
LEVELS = {"light": 0.25, "normal": 0.45, "overloaded": 1.0}
# (stretch, seconds): overloaded early, so that even the 8 s ``tiny`` video carries one overload.
CYCLE = (
    ("normal", 3.0),
    ("overloaded", 5.0),
    ("light", 6.0),
    ("normal", 4.0),
    ("light", 5.0),
    ("overloaded", 6.0),
)
DRIFT = 0.06  # spread of the slow wander of the level around the plan


@dataclass(frozen=True)
class Stretch:
    kind: str
    start_s: float
    end_s: float


def plan_stretches(seconds: float) -> tuple[Stretch, ...]:
    """The cycle laid end to end until ``seconds`` (the last stretch may be cut short)."""
    stretches, t = [], 0.0
    while t < seconds:
        for kind, length in CYCLE:
            if t >= seconds:
                break
            stretches.append(Stretch(kind, t, min(t + length, seconds)))
            t += length
    return tuple(stretches)


def planned_level(xs: np.ndarray, view: BeltView, seconds: float) -> np.ndarray:
    """The plan's level at tape positions ``xs`` (time-0 metres): the stretch it belongs to."""
    mid_frame_s = (view.length_m / 2 - xs) / BELT_SPEED_MPS  # when that piece of belt is mid-frame
    level = np.full(len(xs), LEVELS[CYCLE[0][0]])
    for stretch in plan_stretches(seconds):
        level[mid_frame_s >= stretch.start_s] = LEVELS[stretch.kind]
    return level
