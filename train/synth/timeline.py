"""The video's script: what passes the camera and when, and where it is at any moment.

Events follow one another with stretches of ordinary belt between them, in a fixed cycle (so the
40 s demo always has two foreign objects and two people before anything else). Ground truth is
not taken from this plan but measured from where things actually are in each frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from train.synth.geometry import BeltView
from train.synth.people import Person, sample_person

BELT_SPEED_MPS = 2.5
WALK_WIDTHS_PER_S = 0.25  # a walking person crosses a quarter of the frame per second
CYCLE = ("anchor_rod", "person_helmet", "wood", "empty_belt", "person_bare", "oversized_lump", "metal")


@dataclass(frozen=True)
class Passage:
    """Something the belt carries past: a foreign object kind or ``oversized_lump``."""

    kind: str
    centre_s: float  # when it is mid-frame

    @property
    def event_type(self) -> str:
        return self.kind

    @property
    def label(self) -> str:
        return "oversized_lump" if self.kind == "oversized_lump" else "foreign_object"

    def tape_x(self, view: BeltView) -> float:
        """Its position on the belt at time 0 (it moves ``BELT_SPEED_MPS`` metres per second)."""
        return view.length_m / 2 - BELT_SPEED_MPS * self.centre_s


@dataclass(frozen=True)
class EmptyStretch:
    """A gap in the coal long enough for the whole visible belt to run empty for ``seconds``."""

    start_s: float
    seconds: float
    event_type: ClassVar[str] = "empty_belt"
    label: ClassVar[str] = "empty_belt"

    def tape_range(self, view: BeltView) -> tuple[float, float]:
        """The stretch of belt (positions at time 0) that must carry no coal."""
        return -BELT_SPEED_MPS * (self.start_s + self.seconds), view.length_m - BELT_SPEED_MPS * self.start_s


@dataclass(frozen=True)
class Visit:
    """A worker walks in from the right edge, stands beside the belt, then walks back out."""

    enter_s: float
    stand_s: float
    worker: Person  # as they stand; their place and pose while walking are derived from it
    event_type: ClassVar[str] = "person"
    label: ClassVar[str] = "person_near_belt"

    def walk_s(self, view: BeltView) -> float:
        return (self._entry_x(view) - self.worker.x) / (WALK_WIDTHS_PER_S * view.width)

    def end_s(self, view: BeltView) -> float:
        return self.enter_s + 2 * self.walk_s(view) + self.stand_s

    def person_at(self, t: float, view: BeltView) -> Person | None:
        """The worker at time ``t``, or None while they are out of the scene."""
        walk, entry = self.walk_s(view), self._entry_x(view)
        into = t - self.enter_s
        if into < 0 or t > self.end_s(view):
            return None
        if walk <= into <= walk + self.stand_s:
            return self.worker
        inbound = into < walk
        x = entry - (entry - self.worker.x) * (into / walk if inbound else (self.end_s(view) - t) / walk)
        foot_y = float(view.edge_y(x, near=True)) + (
            self.worker.foot_y - float(view.edge_y(self.worker.x, near=True))
        )
        height = self.worker.height * float(view.belt_px(x) / view.belt_px(self.worker.x))
        height = min(height, foot_y - 0.03 * view.height)  # nearer the camera, but the head stays in frame
        phase = np.sin(2 * np.pi * abs(entry - x) / (0.8 * self.worker.height))
        return replace(
            self.worker,
            x=x,
            foot_y=foot_y,
            height=height,
            facing=-1 if inbound else 1,
            turn=0.9,
            stride=float(phase),
        )

    def _entry_x(self, view: BeltView) -> float:
        return view.width + 0.3 * self.worker.height


Event = Passage | EmptyStretch | Visit


def plan_events(rng: np.random.Generator, view: BeltView, seconds: float) -> tuple[Event, ...]:
    """Lay the cycle's events one after another, skipping any that would run past the end."""
    crossing = view.length_m / BELT_SPEED_MPS
    events: list[Event] = []
    t = 0.8
    for name in CYCLE * (1 + int(seconds // 40)):
        event: Event
        if name.startswith("person"):
            worker = sample_person(
                rng,
                view,
                rng.uniform(0.45, 0.7) * view.width,
                helmet_p=float(name == "person_helmet"),
                walking=False,
            )
            event = Visit(t, rng.uniform(2.0, 3.5), worker)
            span = event.end_s(view) - t
        elif name == "empty_belt":
            event = EmptyStretch(t + crossing, rng.uniform(2.0, 3.0))
            span = 1.5 * crossing + event.seconds
        else:
            span = crossing + 0.3
            event = Passage(name, t + span / 2)
        if t + span <= seconds - 0.3:
            events.append(event)
            t += span + rng.uniform(0.6, 1.6)
    return tuple(events)
