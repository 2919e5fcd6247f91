"""The static roadway around the belt: rock rib and roof, mesh, cables, lamps, floor and structure.

Features above and below the belt are placed in "belt widths" from its far edge: a line at a
constant level passes through the belt's vanishing point, so the roadway shares its perspective.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from train.synth.camera import Glow
from train.synth.canvas import BGR, Canvas, ellipse, grey, rect
from train.synth.geometry import BeltView
from train.synth.labels import BELT
from train.synth.textures import fractal_noise, smooth_series

ROCK = ((62.0, 66.0, 70.0), (52.0, 60.0, 70.0), (70.0, 70.0, 66.0))  # grey shale, brown sandstone, grey
FLOOR = ((40.0, 46.0, 52.0), (34.0, 38.0, 40.0))
CABLES = ((22.0, 22.0, 24.0), (34.0, 34.0, 36.0))  # black and grey sheaths
LAMP = (240.0, 250.0, 255.0)


@dataclass(frozen=True)
class Cable:
    """A cable hung along the rib, sagging between hangers; lengths in belt widths."""

    level: float  # above the belt's far edge
    sag: float
    thickness: float
    colour: BGR


@dataclass(frozen=True)
class Backdrop:
    """Everything static around the belt, described by a few numbers and a texture seed."""

    seed: int
    rock: BGR
    floor: BGR
    roof_level: float  # where the rib meets the roof, belt widths above the far edge
    mesh: bool  # welded mesh and bolt plates on the roof
    seam: tuple[float, float] | None  # a coal seam band in the rib, belt widths above the far edge
    cables: tuple[Cable, ...]
    pipe_level: float | None
    lamps: tuple[float, ...]  # luminaires on the rib, columns as fractions of the width
    belt_shade: float
    steel: float
    idler_pitch_m: float


def sample_backdrop(rng: np.random.Generator) -> Backdrop:
    roof = rng.uniform(1.0, 2.2)
    cables = tuple(
        Cable(
            rng.uniform(0.35, roof - 0.25),
            rng.uniform(0.03, 0.12),
            rng.uniform(0.03, 0.06),
            CABLES[rng.integers(len(CABLES))],
        )
        for _ in range(rng.integers(0, 4))
    )
    seam_low = rng.uniform(0.1, 0.6)
    return Backdrop(
        seed=int(rng.integers(2**31)),
        rock=grey(rng.uniform(0.8, 1.15), ROCK[rng.integers(len(ROCK))]),
        floor=grey(rng.uniform(0.8, 1.2), FLOOR[rng.integers(len(FLOOR))]),
        roof_level=roof,
        mesh=bool(rng.random() < 0.7),
        seam=(seam_low, seam_low + rng.uniform(0.3, 0.8)) if rng.random() < 0.6 else None,
        cables=cables,
        pipe_level=rng.uniform(0.3, roof - 0.2) if rng.random() < 0.5 else None,
        lamps=tuple(rng.uniform(0.05, 0.95, rng.choice(3, p=(0.45, 0.4, 0.15)))),
        belt_shade=rng.uniform(38, 58),
        steel=rng.uniform(70, 110),
        idler_pitch_m=rng.uniform(1.0, 1.6),
    )


def paint_backdrop(canvas: Canvas, view: BeltView, backdrop: Backdrop) -> tuple[Glow, ...]:
    """Paint the roadway and the empty belt (masked as belt); returns the luminaires in view."""
    rng = np.random.default_rng(backdrop.seed)
    _paint_rock(canvas.image, view, backdrop, rng)
    if backdrop.mesh:
        _paint_mesh(canvas, view, backdrop, rng)
    if backdrop.pipe_level is not None:
        level, steel = backdrop.pipe_level, backdrop.steel
        _band(canvas, view, level + 0.05, level - 0.05, grey(steel * 0.9))
        _band(canvas, view, level + 0.045, level + 0.02, grey(steel * 1.5))  # its lit top
    for cable in backdrop.cables:
        _paint_cable(canvas, view, cable, rng)
    _paint_spillage(canvas, view, rng)
    _paint_structure(canvas, view, backdrop, rng)
    _paint_belt(canvas, view, backdrop, rng)
    return _paint_lamps(canvas, view, backdrop)


def _level_y(view: BeltView, x: np.ndarray, level: float) -> np.ndarray:
    """Row of the line ``level`` belt widths above the far edge (negative: below it) at columns ``x``."""
    return view.edge_y(x, near=False) - level * view.belt_px(x)


def _paint_rock(image: np.ndarray, view: BeltView, backdrop: Backdrop, rng: np.random.Generator) -> None:
    """Rib, roof and floor as one textured field: strata follow the belt's perspective."""
    h, w = image.shape[:2]
    cols = np.arange(w)
    far, scale = view.edge_y(cols, near=False), np.maximum(view.belt_px(cols), 1)
    level = ((far[None, :] - np.arange(h)[:, None]) / scale).astype(np.float32)
    rock = fractal_noise(rng, h, w, cells=6, octaves=5)
    shade = 0.8 + 0.3 * rock + 0.08 * np.sin(level * 9 + 2 * rock)
    shade[level > backdrop.roof_level] *= 0.8
    if backdrop.seam is not None:
        low, high = backdrop.seam
        shade[(level > low) & (level < high)] *= 0.45
    floor = level < -1
    shade[floor] += np.clip(fractal_noise(rng, h, w, cells=3) - 0.7, 0, None)[floor] * 0.8  # wet patches
    colour = np.where(floor[..., None], np.float32(backdrop.floor), np.float32(backdrop.rock))
    image[:] = np.clip(colour * shade[..., None], 0, 255).astype(np.uint8)


def _paint_mesh(canvas: Canvas, view: BeltView, backdrop: Backdrop, rng: np.random.Generator) -> None:
    """Welded roof mesh: lines along the roadway and across it, with bolt plates at some crossings."""
    w, roof = view.width, backdrop.roof_level
    colour, thickness = grey(backdrop.steel * 0.8), max(1.0, view.height / 240)
    ends = np.array([0.0, w - 1.0])
    for level in roof + 0.3 * np.arange(1, 12):
        canvas.stroke(np.stack([ends, _level_y(view, ends, level)], axis=1), colour, thickness)
    along = np.arange(-2.0, view.length_m + 2.0, 0.6)
    columns = view.project(np.stack([along, np.zeros_like(along)], axis=1))[:, 0]
    for x in columns:
        canvas.stroke(np.array([(x, float(_level_y(view, x, roof))), (x, -1.0)]), colour, thickness)
    for x in columns[rng.random(len(columns)) < 0.5]:
        level = roof + 0.3 * rng.integers(1, 4)
        size = 0.08 * float(view.belt_px(x))
        y = float(_level_y(view, x, level))
        plate = rect(x - size, y - 0.6 * size, x + size, y + 0.6 * size)
        canvas.fill(plate, grey(backdrop.steel * 1.1))


def _band(canvas: Canvas, view: BeltView, top: float, bottom: float, colour: BGR) -> None:
    """Fill between two levels across the frame (a pipe, the stringer, the return belt)."""
    ends = np.array([-1.0, view.width + 1.0])
    polygon = np.concatenate(
        [
            np.stack([ends, _level_y(view, ends, top)], axis=1),
            np.stack([ends[::-1], _level_y(view, ends[::-1], bottom)], axis=1),
        ]
    )
    canvas.fill(polygon, colour)


def _paint_cable(canvas: Canvas, view: BeltView, cable: Cable, rng: np.random.Generator) -> None:
    """A cable sagging in parabolas between hangers spaced along the rib."""
    x = np.linspace(-2, view.width + 2, 96)
    hangers = rng.uniform(0.15, 0.35) * view.width
    u = (x / hangers + rng.random()) % 1.0
    y = _level_y(view, x, cable.level) + cable.sag * view.belt_px(x) * 4 * u * (1 - u)
    canvas.stroke(
        np.stack([x, y], axis=1), cable.colour, cable.thickness * float(view.belt_px(view.width / 2))
    )


def _paint_spillage(canvas: Canvas, view: BeltView, rng: np.random.Generator) -> None:
    """Coal spilt on the walkway under the belt (not belt load: left out of the masks)."""
    for _ in range(rng.integers(5, 25)):
        x = rng.uniform(0, view.width)
        scale = float(view.belt_px(x))
        y = float(view.edge_y(x, near=True)) + rng.uniform(0.5, 3.0) * scale
        r = rng.uniform(0.02, 0.07) * scale
        outline = ellipse(x, y, r * rng.uniform(1.0, 1.8), r, points=7) + rng.normal(0, 0.2 * r, (7, 2))
        canvas.fill(outline, grey(rng.uniform(14, 30)))


def _paint_structure(canvas: Canvas, view: BeltView, backdrop: Backdrop, rng: np.random.Generator) -> None:
    """Return belt, stringer, idler rollers and stands under the belt's near edge."""
    steel = backdrop.steel
    _band(canvas, view, -1.32, -1.38, grey(backdrop.belt_shade * 0.5))
    _band(canvas, view, -1.08, -1.16, grey(steel))
    _band(canvas, view, -1.08, -1.095, grey(steel * 1.5))
    for x_m in np.arange(rng.uniform(0, backdrop.idler_pitch_m), view.length_m, backdrop.idler_pitch_m):
        (x0, _), (x, _), (x1, _) = view.project(
            np.array([[x_m - 0.16, view.belt_m], [x_m, view.belt_m], [x_m + 0.16, view.belt_m]])
        )
        scale = float(view.belt_px(x))
        top = float(view.edge_y(x, near=True))
        canvas.stroke(
            np.array([(x, top + 0.1 * scale), (x, top + 0.55 * scale)]), grey(steel * 0.8), 0.05 * scale
        )
        roller = rect(x0, top, x1, top + 0.075 * scale)
        canvas.fill(roller, grey(steel * 0.9))
        canvas.stroke(
            np.array([(x0, top + 0.02 * scale), (x1, top + 0.02 * scale)]), grey(steel * 1.6), 0.015 * scale
        )


def _paint_belt(canvas: Canvas, view: BeltView, backdrop: Backdrop, rng: np.random.Generator) -> None:
    """The carrying belt: a troughed rubber band, lit on its far wing, warped onto the belt plane.

    Its texture varies only across the belt, so it looks the same however far the belt has run.
    """
    rows = 48
    across = (np.arange(rows) + 0.5) / rows
    profile = (
        1
        + 0.35 * np.exp(-(((across - 0.07) / 0.05) ** 2))
        - 0.3 * np.exp(-(((across - 0.96) / 0.04) ** 2))
        + 0.05 * smooth_series(rng, rows, 2)
    )
    texture = np.repeat(np.clip(backdrop.belt_shade * profile, 0, 255)[:, None, None], 4, axis=1)
    texture = np.repeat(texture, 3, axis=2) * np.float32([1.03, 1.0, 0.98])
    to_metres = np.diag([view.length_m / 4, view.belt_m / rows, 1.0])
    cv2.warpPerspective(
        np.clip(texture, 0, 255).astype(np.uint8),
        view.homography @ to_metres,
        (view.width, view.height),
        dst=canvas.image,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )
    quad = view.quad()
    canvas.fill(quad, None, seg=BELT)
    scale = float(view.belt_px(view.width / 2))
    canvas.stroke(quad[:2], grey(backdrop.belt_shade * 1.6), 0.02 * scale)
    canvas.stroke(quad[2:], grey(backdrop.belt_shade * 0.5), 0.02 * scale)


def _paint_lamps(canvas: Canvas, view: BeltView, backdrop: Backdrop) -> tuple[Glow, ...]:
    """Luminaire housings under the roof; each is also a light source that blooms."""
    glows = []
    for column in backdrop.lamps:
        x = column * view.width
        scale = float(view.belt_px(x))
        y = float(_level_y(view, x, backdrop.roof_level - 0.15))
        canvas.fill(rect(x - 0.2 * scale, y - 0.06 * scale, x + 0.2 * scale, y + 0.06 * scale), LAMP)
        glows.append(Glow(x, y, 0.3 * scale, 1.0))
    return tuple(glows)
