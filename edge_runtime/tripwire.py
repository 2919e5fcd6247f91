"""Directional tripwires: a detection's bottom-centre crossing a line, in one direction or either.

Objects are followed from one frame to the next by the nearest bottom-centre of the same class
within ``max_jump`` (a deliberately small tracker: belts and walkways have few objects, and a
missed association only delays a crossing by a frame). The side of the directed line a->b comes
from the sign of a cross product: "left_to_right" means from its left-hand side to its right-hand.
"""

from __future__ import annotations

from typing import Literal

from edge_runtime.postprocess import Detection

Point = tuple[float, float]
Direction = Literal["left_to_right", "right_to_left", "any"]


def side(a: Point, b: Point, p: Point) -> float:
    """> 0 when ``p`` is on the right-hand side of someone walking from a to b (image axes, y down)."""
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def crosses(a: Point, b: Point, p: Point, q: Point) -> bool:
    """Whether the step p->q crosses the segment a-b (touching the line counts as not yet crossed)."""
    return side(a, b, p) * side(a, b, q) < 0 and side(p, q, a) * side(p, q, b) < 0


class Tripwire:
    """Remembers each camera's last bottom-centres and reports the detections that crossed."""

    def __init__(self, line: tuple[Point, Point], direction: Direction, max_jump: float = 0.2) -> None:
        self.a, self.b = line
        self.direction = direction
        self.max_jump = max_jump
        self._previous: dict[str, list[tuple[str, Point]]] = {}

    def crossed(self, camera: str, detections: list[Detection]) -> list[Detection]:
        previous = self._previous.get(camera, [])
        crossed = []
        for detection in detections:
            point = detection.bottom_centre
            near = [
                p
                for label, p in previous
                if label == detection.label and _distance(p, point) <= self.max_jump
            ]
            if not near:
                continue
            before = min(near, key=lambda p: _distance(p, point))
            if crosses(self.a, self.b, before, point) and self._wanted(side(self.a, self.b, before)):
                crossed.append(detection)
        self._previous[camera] = [(d.label, d.bottom_centre) for d in detections]
        return crossed

    def _wanted(self, start_side: float) -> bool:
        started_left = start_side < 0
        if self.direction == "any":
            return True
        return started_left == (self.direction == "left_to_right")


def _distance(p: Point, q: Point) -> float:
    return ((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5
