"""Workers near the belt: a simple but recognisable figure, with or without a hard hat.

People stand on the walkway, off the belt plane, so a figure is described in image pixels;
proportions follow a standing adult (head about an eighth of the height).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from train.synth.canvas import BGR, Canvas, ellipse, grey, rect
from train.synth.geometry import BeltView
from train.synth.labels import BACKGROUND

CLOTHING = (
    (20.0, 110.0, 235.0),  # hi-vis orange
    (45.0, 225.0, 200.0),  # hi-vis yellow
    (85.0, 45.0, 30.0),  # navy overalls
    (62.0, 64.0, 66.0),  # grey overalls
    (30.0, 90.0, 205.0),  # orange overalls
)
TROUSERS = ((70.0, 40.0, 28.0), (45.0, 45.0, 48.0))
SKIN = ((150.0, 170.0, 210.0), (110.0, 140.0, 185.0), (70.0, 95.0, 135.0))
HAIR = ((25.0, 25.0, 30.0), (30.0, 45.0, 70.0), (105.0, 108.0, 112.0))
HELMETS = ((20.0, 200.0, 235.0), (228.0, 232.0, 232.0), (25.0, 125.0, 235.0))  # yellow, white, orange
REFLECTIVE = (215.0, 225.0, 225.0)
BOOTS = (24.0, 24.0, 26.0)
LAMP = (215.0, 245.0, 255.0)


@dataclass(frozen=True)
class Helmet:
    colour: BGR
    lamp: bool


@dataclass(frozen=True)
class Person:
    """A worker on the walkway in front of the belt; all lengths in image pixels."""

    x: float  # column of the hips
    foot_y: float  # row of the soles
    height: float  # soles to crown
    facing: int  # -1 walks or looks left, +1 right
    turn: float  # 0 faces the camera .. 1 side-on, walking along the belt
    stride: float  # -1..1 walking phase: which leg is forward, and how far
    reach: float  # 0 arms down .. 1 the front arm raised (pointing, reaching for the belt)
    clothing: BGR
    trousers: BGR
    stripes: bool  # reflective tape on jacket and trousers
    skin: BGR
    hair: BGR
    helmet: Helmet | None

    def bounds(self) -> tuple[float, float, float, float]:
        """A generous extent (x0, y0, x1, y1) in pixels, unclipped: for placement and visibility."""
        half = 0.24 * self.height
        return self.x - half, self.foot_y - self.height, self.x + half, self.foot_y


def sample_person(
    rng: np.random.Generator,
    view: BeltView,
    x: float,
    *,
    heights: tuple[float, float] = (0.45, 0.85),
    helmet_p: float = 0.6,
    walking: bool | None = None,
) -> Person:
    """A worker at column ``x``, sized by the belt's local scale within ``heights`` (of the frame)."""
    lo, hi = heights[0] * view.height, heights[1] * view.height
    height = float(np.clip(2.1 * view.belt_px(x) * rng.uniform(0.85, 1.15), lo, hi))
    foot_y = float(view.edge_y(x, near=True)) + rng.uniform(0.18, 0.42) * height
    foot_y = float(np.clip(foot_y, height + 0.02 * view.height, view.height + 0.04 * height))
    walking = bool(rng.random() < 0.4) if walking is None else walking
    helmet = None
    if rng.random() < helmet_p:
        helmet = Helmet(HELMETS[rng.choice(len(HELMETS), p=(0.5, 0.4, 0.1))], bool(rng.random() < 0.8))
    clothing = CLOTHING[rng.integers(len(CLOTHING))]
    return Person(
        x=x,
        foot_y=foot_y,
        height=height,
        facing=int(rng.choice((-1, 1))),
        turn=rng.uniform(0.6, 1.0) if walking else rng.uniform(0.0, 0.4),
        stride=rng.uniform(-1, 1) if walking else rng.uniform(-0.2, 0.2),
        reach=rng.uniform(0.4, 1.0) if rng.random() < 0.25 else 0.0,
        clothing=clothing,
        trousers=clothing if rng.random() < 0.5 else TROUSERS[rng.integers(len(TROUSERS))],
        stripes=bool(rng.random() < 0.8),
        skin=grey(rng.uniform(0.75, 1.0), SKIN[rng.integers(len(SKIN))]),
        hair=HAIR[rng.integers(len(HAIR))],
        helmet=helmet,
    )


def paint_person(canvas: Canvas, person: Person, body_id: int, head_id: int) -> tuple[float, float] | None:
    """Draw the worker back to front; returns the cap lamp's position (a light source), if lit.

    The body is labelled ``body_id`` and the head with its hair or hard hat ``head_id``; both are
    background in the segmentation mask.
    """
    figure = _Figure(canvas, person, body_id, head_id)
    back = -person.facing if person.turn > 0.5 else -1
    figure.arm(back)
    figure.leg(-1)
    figure.leg(1)
    figure.torso()
    figure.arm(-back)
    return figure.head()


class _Figure:
    """A worker's proportions (fractions of their height) and the strokes that draw each part."""

    def __init__(self, canvas: Canvas, person: Person, body_id: int, head_id: int) -> None:
        self.canvas, self.person, self.body_id, self.head_id = canvas, person, body_id, head_id
        h, side = person.height, person.turn
        self.shoulder_y, self.hip_y = person.foot_y - 0.80 * h, person.foot_y - 0.50 * h
        self.waist = self.hip_y + 0.03 * h
        self.shoulder_w = 0.115 * h * (1 - 0.55 * side)  # side-on, the body looks narrower
        self.hip_w = 0.085 * h * (1 - 0.5 * side)
        self.swing = person.stride * 0.16 * h * (0.35 + 0.65 * side) * person.facing

    def _body(self, points: np.ndarray, colour: BGR, thickness: float | None = None) -> None:
        self._draw(points, colour, thickness, self.body_id)

    def _head(self, points: np.ndarray, colour: BGR) -> None:
        self._draw(points, colour, None, self.head_id)

    def _draw(self, points: np.ndarray, colour: BGR, thickness: float | None, ident: int) -> None:
        if thickness is None:
            self.canvas.fill(points, colour, seg=BACKGROUND, ident=ident)
        else:
            self.canvas.stroke(points, colour, thickness, seg=BACKGROUND, ident=ident)

    def arm(self, sign: int) -> None:
        """The arm on side ``sign``: it swings against the leg, or the front one is raised."""
        p, h, side, f = self.person, self.person.height, self.person.turn, self.person.facing
        shoulder = np.array([p.x + sign * self.shoulder_w * 0.92, self.shoulder_y + 0.025 * h])
        hand = np.array(
            [shoulder[0] + sign * (0.035 * h * (1 - side) - 0.7 * self.swing), p.foot_y - 0.43 * h]
        )
        elbow = (shoulder + hand) / 2 + (sign * 0.02 * h * (1 - side) - 0.01 * h * f * side, 0.0)
        if sign == f and p.reach:
            raised = np.array([shoulder[0] + f * 0.2 * h, self.shoulder_y - 0.05 * h])
            bent = shoulder + (raised - shoulder) * 0.5 + (0.0, 0.03 * h)
            hand, elbow = hand + (raised - hand) * p.reach, elbow + (bent - elbow) * p.reach
        self._body(np.array([shoulder, elbow, hand]), p.clothing, 0.055 * h)
        self._body(ellipse(*hand, 0.026 * h, 0.026 * h, points=12), grey(0.45, p.clothing))

    def leg(self, sign: int) -> None:
        """The leg on side ``sign``, with its boot and a reflective band below the knee."""
        p, h, side, f = self.person, self.person.height, self.person.turn, self.person.facing
        hip = np.array([p.x + sign * self.hip_w * 0.5, self.hip_y])
        foot = np.array([p.x + sign * (self.hip_w * 0.6 * (1 - side) + self.swing), p.foot_y - 0.035 * h])
        knee = (hip + foot) / 2 + (f * 0.03 * h * side * abs(p.stride), 0.0)
        self._body(np.array([hip, knee, foot - (0, 0.08 * h)]), p.trousers, 0.07 * h)
        self._body(np.array([foot - (0, 0.1 * h), foot]), BOOTS, 0.075 * h)
        self._body(
            np.array([foot + (-f * 0.01 * h, 0.02 * h), foot + (f * 0.045 * h * side, 0.02 * h)]),
            BOOTS,
            0.04 * h,
        )
        if p.stripes:
            y = p.foot_y - 0.22 * h
            at = hip + (foot - hip) * (y - hip[1]) / (foot[1] - hip[1])
            self._body(np.array([at - (0.03 * h, 0), at + (0.03 * h, 0)]), REFLECTIVE, 0.016 * h)

    def torso(self) -> None:
        """Jacket with reflective bands, and the belt that carries the cap-lamp battery."""
        p, h, x = self.person, self.person.height, self.person.x
        top, shoulder, waist = self.shoulder_y - 0.015 * h, self.shoulder_y + 0.04 * h, self.waist
        sw, hw = self.shoulder_w, self.hip_w * 1.1
        outline = [
            (x - sw * 0.8, top),
            (x + sw * 0.8, top),
            (x + sw, shoulder),
            (x + hw, waist),
            (x - hw, waist),
            (x - sw, shoulder),
        ]
        self._body(np.array(outline), p.clothing)
        if p.stripes:
            for y in (self.shoulder_y + 0.17 * h, self.shoulder_y + 0.235 * h):
                half = sw + (hw - sw) * (y - self.shoulder_y) / (waist - self.shoulder_y)
                self._body(rect(x - half, y, x + half, y + 0.028 * h), REFLECTIVE)
        self._body(np.array([(x - hw, waist - 0.01 * h), (x + hw, waist - 0.01 * h)]), BOOTS, 0.025 * h)

    def head(self) -> tuple[float, float] | None:
        """Neck, face and either hair or a hard hat with its cap lamp; returns the lamp's position."""
        p, h, side, f = self.person, self.person.height, self.person.turn, self.person.facing
        hx, cy = p.x + f * 0.012 * h * side, p.foot_y - h + 0.068 * h
        self._body(np.array([(hx, self.shoulder_y), (hx, cy + 0.04 * h)]), p.skin, 0.045 * h)
        self._head(ellipse(hx, cy, 0.05 * h, 0.066 * h), p.skin)
        if p.helmet is None:
            self._head(
                ellipse(hx - f * 0.008 * h * side, cy - 0.012 * h, 0.053 * h, 0.058 * h, start=180, end=360),
                p.hair,
            )
            return None
        colour, base = p.helmet.colour, cy - 0.018 * h
        self._head(ellipse(hx + f * 0.012 * h * side, base, 0.076 * h, 0.014 * h), grey(0.85, colour))  # brim
        self._head(ellipse(hx, base, 0.062 * h, 0.058 * h, start=180, end=360), colour)  # shell
        self._head(
            ellipse(hx - 0.022 * h, base - 0.038 * h, 0.02 * h, 0.01 * h, points=12), grey(1.2, colour)
        )
        if not p.helmet.lamp:
            return None
        lx, ly = hx + f * 0.05 * h * side, base - 0.03 * h
        self._head(rect(lx - 0.016 * h, ly - 0.011 * h, lx + 0.016 * h, ly + 0.011 * h), LAMP)
        return lx, ly
