"""Coal on the belt: a dark ribbon of fines with lumps on top, laid out in belt metres.

A still image is a stretch as long as the visible belt; the video scrolls one long stretch (a
"tape") past the camera, so every lump keeps its shape and place from frame to frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from train.synth.canvas import Canvas, grey
from train.synth.geometry import BeltView
from train.synth.labels import COAL
from train.synth.textures import smooth_series

BED_STEP_M = 0.05  # spacing of the bed's outline samples along the belt
LUMPS_PER_M2 = 60  # lumps per square metre of bed
MAX_LUMP_M = 0.12  # the biggest ordinary lump's radius; oversized ones start at 0.34 m
BIG_LUMP_M = (0.34, 0.5)
REACH_M = 1.0  # farther than any lump reaches from its centre (0.5 m x 1.4 jag x 1.3 stretch)
LIGHT_ANGLE = np.radians(225.0)  # direction towards the main light on the belt plane (far side, upstream)
COAL_TINT = (1.06, 1.02, 1.0)  # coal's faint blue-black sheen (BGR gains)
BED_LEVEL = 17.0  # grey level of the fines
BIG_SHADOW = (5.0, 5.0, 5.0)  # the dark gap an oversized lump casts around itself


@dataclass(frozen=True, eq=False)
class Lumps:
    """Lumps as polygons on the belt plane, sorted along the belt (which is also the drawing order)."""

    centres: np.ndarray  # (n, 2) metres
    outlines: np.ndarray  # (n, k, 2) vertex offsets from the centre, metres
    shades: np.ndarray  # (n,) grey level of the lump's body
    gloss: np.ndarray  # (n,) brightness added by the facet that faces the light (0 = matt)
    lit: np.ndarray  # (n,) index of the first of the three vertices that face the light

    def __len__(self) -> int:
        return len(self.centres)

    def select(self, index: slice | np.ndarray) -> Lumps:
        return Lumps(*(getattr(self, field.name)[index] for field in fields(self)))

    def window(self, x0: float, x1: float) -> Lumps:
        """The lumps that can reach into belt positions ``x0 .. x1``."""
        lo, hi = np.searchsorted(self.centres[:, 0], [x0 - REACH_M, x1 + REACH_M])
        return self.select(slice(lo, hi))

    @staticmethod
    def concat(parts: Sequence[Lumps]) -> Lumps:
        joined = Lumps(*(np.concatenate([getattr(p, field.name) for p in parts]) for field in fields(Lumps)))
        return joined.select(np.argsort(joined.centres[:, 0], kind="stable"))


@dataclass(frozen=True, eq=False)
class Bed:
    """The ribbon of fines under the lumps: its centre line and half-width, sampled along the belt."""

    xs: np.ndarray
    centre: np.ndarray
    half_width: np.ndarray

    def window(self, x0: float, x1: float) -> Bed:
        lo, hi = np.searchsorted(self.xs, [x0 - BED_STEP_M, x1 + BED_STEP_M])
        lo, hi = max(lo - 1, 0), hi + 1
        return Bed(self.xs[lo:hi], self.centre[lo:hi], self.half_width[lo:hi])


@dataclass(frozen=True, eq=False)
class BeltLoad:
    """Everything the belt carries that is coal; ``big`` are the oversized lumps, each labelled."""

    bed: Bed
    lumps: Lumps
    big: Lumps

    def window(self, x0: float, x1: float) -> BeltLoad:
        """The part that can be seen while belt positions ``x0 .. x1`` are in view."""
        return BeltLoad(self.bed.window(x0, x1), self.lumps.window(x0, x1), self.big.window(x0, x1))


def sample_load(
    rng: np.random.Generator,
    xs: np.ndarray,
    level: np.ndarray,
    belt_m: float,
    *,
    big_at: Sequence[tuple[float, float]] = (),
    strays: int = 0,
) -> BeltLoad:
    """Coal along belt positions ``xs`` (metres, ``BED_STEP_M`` apart); ``level`` 0..1 is how full.

    ``big_at`` places oversized lumps (x, y); ``strays`` scatters that many pebbles over the whole
    belt, the carry-back an "empty" belt still shows.
    """
    n = len(xs)
    centre = belt_m / 2 + 0.03 * belt_m * smooth_series(rng, n, 40)
    half = 0.46 * belt_m * np.clip(level, 0, 1) ** 0.8 * (1 + 0.08 * smooth_series(rng, n, 6))
    half = np.clip(half, 0, 0.47 * belt_m - np.abs(centre - belt_m / 2))
    bed = Bed(xs, centre, half)
    stray_xy = np.stack([rng.uniform(xs[0], xs[-1], strays), rng.uniform(0.1, 0.9, strays) * belt_m], axis=1)
    lumps = Lumps.concat(
        [
            _scatter(rng, bed),
            _lumps(rng, stray_xy, rng.uniform(0.012, 0.035, strays), jag=0.2, stretch=1.4),
        ]
    )
    big_xy = np.array(big_at, np.float64).reshape(-1, 2)
    big = _lumps(rng, big_xy, rng.uniform(*BIG_LUMP_M, len(big_xy)), vertices=12, jag=0.12, stretch=1.3)
    big = replace(
        big, shades=rng.uniform(34, 52, len(big)), gloss=rng.uniform(50, 100, len(big))
    )  # stands out
    return BeltLoad(bed, lumps, big)


def _scatter(rng: np.random.Generator, bed: Bed) -> Lumps:
    """Lumps spread over the bed, denser where it is wider, smaller where it is thin."""
    cdf = np.cumsum(bed.half_width)
    area = 2 * cdf[-1] * BED_STEP_M if len(cdf) else 0.0
    count = int(rng.poisson(LUMPS_PER_M2 * area))
    if count == 0:
        return _lumps(rng, np.zeros((0, 2)), np.zeros(0))
    x = np.interp(rng.random(count) * cdf[-1], cdf, bed.xs)
    half = np.interp(x, bed.xs, bed.half_width)
    y = np.interp(x, bed.xs, bed.centre) + half * rng.uniform(-0.92, 0.92, count)
    radius = np.clip(np.exp(rng.normal(np.log(0.035), 0.55, count)), 0.012, MAX_LUMP_M)
    radius = np.minimum(radius, 0.6 * half + 0.015)
    return _lumps(rng, np.stack([x, y], axis=1), radius)


def _lumps(
    rng: np.random.Generator,
    centres: np.ndarray,
    radius: np.ndarray,
    *,
    vertices: int = 9,
    jag: float = 0.22,
    stretch: float = 1.5,
) -> Lumps:
    """Irregular, slightly elongated polygons around ``centres`` (all vectorised)."""
    n, step = len(centres), 2 * np.pi / vertices
    angles = step * np.arange(vertices) + rng.uniform(-0.3, 0.3, (n, vertices)) * step
    r = radius[:, None] * np.clip(1 + jag * rng.standard_normal((n, vertices)), 0.55, 1.4)
    elong = rng.uniform(1.0, stretch, (n, 1))
    turn = rng.uniform(0, 2 * np.pi, (n, 1))
    lx, ly = r * np.cos(angles) * elong, r * np.sin(angles) / elong
    outlines = np.stack(
        [lx * np.cos(turn) - ly * np.sin(turn), lx * np.sin(turn) + ly * np.cos(turn)], axis=-1
    )
    lumps = Lumps(
        centres=centres,
        outlines=outlines,
        shades=rng.uniform(13, 46, n),
        gloss=rng.uniform(8, 40, n) * (rng.random(n) < 0.6),
        lit=(np.round((LIGHT_ANGLE - turn[:, 0]) / step).astype(int) - 1) % vertices,
    )
    return lumps.select(np.argsort(centres[:, 0], kind="stable"))


def paint_coal(canvas: Canvas, view: BeltView, load: BeltLoad, shift: float) -> None:
    """Draw the bed and the ordinary lumps, moved ``shift`` metres along the belt.

    Each lump is its body, a shadowed face and (if glossy) a lit face, drawn in that order, lump
    after lump; all three are coal in the mask.
    """
    _paint_bed(canvas, view, load.bed, shift)
    lumps = load.lumps
    if not len(lumps):
        return
    k = lumps.outlines.shape[1]
    centres = lumps.centres + (shift, 0.0)
    body = centres[:, None, :] + lumps.outlines
    dark, lit = (_sliver(centres, lumps.outlines, lumps.lit + offset, k) for offset in (k // 2, 0))
    shades = lumps.shades[:, None] * np.array(COAL_TINT)
    colours = np.stack([shades, shades * 0.55, shades + lumps.gloss[:, None]], axis=1)
    keep = np.ones((len(lumps), 3), bool)
    keep[:, 2] = lumps.gloss > 0
    polygons = view.project(np.stack([body, dark, lit], axis=1)[keep])
    canvas.fill_all(polygons, np.clip(colours[keep], 0, 255), seg=COAL)


def paint_big_lump(canvas: Canvas, view: BeltView, big: Lumps, index: int, shift: float, ident: int) -> None:
    """Draw one oversized lump as a faceted rock: each face lit by how squarely it faces the light."""
    centre, outline = big.centres[index] + (shift, 0.0), big.outlines[index]
    radius = float(np.linalg.norm(outline, axis=1).mean())
    light = np.array([np.cos(LIGHT_ANGLE), np.sin(LIGHT_ANGLE)])
    peak = centre + 0.3 * radius * light  # the ridge leans towards the light
    canvas.fill(view.project(centre - 0.12 * radius * light + 1.1 * outline), BIG_SHADOW)
    canvas.fill(view.project(centre + outline), grey(big.shades[index], COAL_TINT), seg=COAL, ident=ident)
    ring = centre + outline
    for a, b in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        mid = (a + b) / 2 - centre
        facing = max(float(np.cos(np.arctan2(mid[1], mid[0]) - LIGHT_ANGLE)), 0.0)
        level = big.shades[index] * (0.6 + 0.7 * facing) + big.gloss[index] * facing**3
        canvas.fill(view.project(np.array([peak, a, b])), grey(level, COAL_TINT))


def _sliver(centres: np.ndarray, outlines: np.ndarray, first: np.ndarray, vertices: int) -> np.ndarray:
    """Crescents along three consecutive vertices (from ``first``), padded to ``vertices`` points.

    They are a lump's lit or shadowed face; the padding repeats the last point so that every
    polygon of a lump has the same length and all can be drawn from one array.
    """
    index = (first[:, None] + np.arange(3)) % outlines.shape[1]
    edge = np.take_along_axis(outlines, index[..., None], axis=1)
    face = np.concatenate([edge, edge[:, ::-1] * 0.72], axis=1)
    face = np.concatenate([face, np.repeat(face[:, -1:], vertices - face.shape[1], axis=1)], axis=1)
    return centres[:, None, :] + face


def _paint_bed(canvas: Canvas, view: BeltView, bed: Bed, shift: float) -> None:
    """Fill each stretch where the bed has width; a zero-width run would draw a stray line."""
    present = bed.half_width > 1e-3
    edges = np.flatnonzero(np.diff(np.concatenate([[0], present.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        x = bed.xs[start:stop] + shift
        far = np.stack([x, bed.centre[start:stop] - bed.half_width[start:stop]], axis=1)
        near = np.stack([x, bed.centre[start:stop] + bed.half_width[start:stop]], axis=1)
        canvas.fill(view.project(np.concatenate([far, near[::-1]])), grey(BED_LEVEL, COAL_TINT), seg=COAL)
