"""Foreign objects on the belt: anchor rods, wood and scrap metal, as coloured parts in belt metres.

Each object is data (parts in its own frame plus a pose), so the same drawing code handles every
kind, the video can slide an object along the belt, and a test can render a scene without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.synth.canvas import BGR, Canvas, grey, rect
from train.synth.geometry import BeltView
from train.synth.labels import BACKGROUND

SHADOW = (6.0, 6.0, 6.0)
SHADOW_OFFSET_M = np.array([0.025, 0.03])  # the light comes from the far side, upstream


@dataclass(frozen=True, eq=False)
class Part:
    """One filled polygon of an object, in the object's frame (metres; x along its length)."""

    outline: np.ndarray
    colour: BGR


@dataclass(frozen=True, eq=False)
class BeltObject:
    """A foreign object lying on the belt: a kind from ``labels.FOREIGN_KINDS``, a pose and its parts."""

    kind: str
    x: float
    y: float
    angle: float  # radians, from the belt's running direction
    parts: tuple[Part, ...]  # drawn in order; all of them cast the shadow

    def placed(self, part: Part, shift: float = 0.0) -> np.ndarray:
        """A part's outline in belt metres, with the object moved ``shift`` metres along the belt."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        rotated = part.outline @ np.array([[c, s], [-s, c]])
        return rotated + (self.x + shift, self.y)

    def reach(self) -> float:
        """Distance from the object's centre to its farthest point, metres."""
        return float(max(np.linalg.norm(part.outline, axis=1).max() for part in self.parts))

    def pixel_bounds(self, view: BeltView, shift: float = 0.0) -> tuple[float, float, float, float]:
        """The object's extent in the image (x0, y0, x1, y1), unclipped."""
        points = view.project(np.concatenate([self.placed(part, shift) for part in self.parts]))
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


def sample_object(rng: np.random.Generator, kind: str, x: float, y: float) -> BeltObject:
    """An object of ``kind`` centred at belt position (x, y), mostly lying along the belt."""
    make = {"anchor_rod": _anchor_rod, "wood": _wood, "metal": _metal}[kind]
    angle = rng.normal(0, 0.3) if kind == "anchor_rod" else rng.uniform(-1.0, 1.0)
    return BeltObject(kind, x, y, float(angle), make(rng))


def paint_object(canvas: Canvas, view: BeltView, obj: BeltObject, shift: float, ident: int) -> None:
    """Draw the object's shadow on the coal, then its parts (labelled ``ident``, masked as background)."""
    for part in obj.parts:
        canvas.fill(view.project(obj.placed(part, shift) + SHADOW_OFFSET_M), SHADOW)
    for part in obj.parts:
        canvas.fill(view.project(obj.placed(part, shift)), part.colour, seg=BACKGROUND, ident=ident)


def _anchor_rod(rng: np.random.Generator) -> tuple[Part, ...]:
    """A roof bolt: a steel bar with a bright top edge, a threaded end and a square bearing plate."""
    length, d = rng.uniform(1.2, 2.2), rng.uniform(0.05, 0.07)
    steel = rng.uniform(120, 170)
    rust = (0.6, 0.75, 0.95) if rng.random() < 0.3 else (1.0, 1.0, 1.0)
    plate, end = rng.uniform(0.13, 0.19), -length / 2
    return (
        Part(rect(end, -plate / 2, end + plate, plate / 2), grey(rng.uniform(100, 160), rust)),
        Part(rect(end, -d / 2, -end, d / 2), grey(steel, rust)),
        Part(rect(end, -d / 2, -end, -d / 2 + 0.35 * d), grey(steel + 75, rust)),
        Part(rect(-end - 0.25, -d / 2, -end, d / 2), grey(steel * 0.75, rust)),
        Part(rect(end + plate / 2 - 0.04, -0.045, end + plate / 2 + 0.04, 0.045), grey(steel * 0.6, rust)),
    )


def _wood(rng: np.random.Generator) -> tuple[Part, ...]:
    """A plank (sawn, with grain lines) or a long splinter with ragged ends."""
    red = rng.uniform(110, 190)
    colour = grey(red, (rng.uniform(0.4, 0.5), rng.uniform(0.62, 0.72), 1.0))
    if rng.random() < 0.6:
        length, width = rng.uniform(0.6, 1.4), rng.uniform(0.1, 0.22)
        body = rect(-length / 2, -width / 2, length / 2, width / 2) + rng.normal(0, 0.008, (4, 2))
    else:
        length, width = rng.uniform(0.45, 1.0), rng.uniform(0.06, 0.12)
        x = np.linspace(-length / 2, length / 2, 8)
        taper = 1 - np.abs(2 * x / length) ** 2.5
        top = np.stack([x, -width / 2 * taper * rng.uniform(0.6, 1.1, 8)], axis=1)
        bottom = np.stack([x, width / 2 * taper * rng.uniform(0.6, 1.1, 8)], axis=1)
        body = np.concatenate([top, bottom[::-1]])
    grain = tuple(
        Part(
            rect(-length * rng.uniform(0.3, 0.45), y, length * rng.uniform(0.3, 0.45), y + 0.01),
            grey(0.72, colour),
        )
        for y in rng.uniform(-0.3, 0.3, rng.integers(2, 5)) * width
    )
    return (Part(body, colour), *grain)


def _metal(rng: np.random.Generator) -> tuple[Part, ...]:
    """Scrap steel: a bent angular plate or a length of angle iron, with bright edges."""
    steel = rng.uniform(150, 210)
    tint = (1.08, 1.02, 0.96)
    if rng.random() < 0.55:
        count = rng.integers(5, 8)
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radius = rng.uniform(0.18, 0.35) * rng.uniform(0.55, 1.0, count)
        body = np.stack([radius * np.cos(angles), radius * np.sin(angles)], axis=1)
        fold = body[: max(3, count // 2)] * 0.95
        edge = np.concatenate([body[:2], body[1::-1] * 0.85])
        return (
            Part(body, grey(steel, tint)),
            Part(fold, grey(steel * 0.7, tint)),
            Part(edge, grey(245, tint)),
        )
    length, width = rng.uniform(0.5, 1.1), rng.uniform(0.07, 0.11)
    return (
        Part(rect(-length / 2, -width / 2, length / 2, width / 2), grey(steel * 0.7, tint)),
        Part(rect(-length / 2, -width / 2, length / 2, -width / 2 + 0.45 * width), grey(steel, tint)),
        Part(
            rect(-length / 2, -width / 2 + 0.42 * width, length / 2, -width / 2 + 0.52 * width),
            grey(250, tint),
        ),
    )
