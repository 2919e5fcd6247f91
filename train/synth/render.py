"""Turn scene descriptions into camera frames, with labels read back from what was drawn.

Drawing order is depth order: roadway and empty belt, coal, oversized lumps, foreign objects, the
belt's motion blur, then people in front. Boxes are the extents of each instance's pixels left
in the id map once everything is drawn, so they are tight and account for occlusion.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from train.synth.backdrop import Backdrop, paint_backdrop
from train.synth.camera import Camera, Glow, expose, exposure_maps, motion_blur
from train.synth.canvas import Canvas
from train.synth.geometry import BeltView
from train.synth.labels import BELT, COAL
from train.synth.load import BeltLoad, paint_big_lump, paint_coal
from train.synth.objects import BeltObject, paint_object
from train.synth.people import Person, paint_person
from train.synth.scene import Scene

MIN_BOX_PIXELS = 12
MIN_VISIBLE = 0.25  # an instance hidden more than this by things drawn after it gets no box


@dataclass(frozen=True)
class Box:
    """A labelled pixel box: columns x0..x1-1 and rows y0..y1-1."""

    label: str
    x0: int
    y0: int
    x1: int
    y1: int


@dataclass(frozen=True, eq=False)
class Rendered:
    image: np.ndarray  # BGR uint8, as the camera delivers it
    seg: np.ndarray | None  # class index per pixel (labels.SEGMENT_CLASSES), if asked for
    boxes: tuple[Box, ...]  # if asked for
    load_fraction: float | None  # coal's share of the belt's pixels, if the mask was drawn


@dataclass(frozen=True)
class _Instance:
    label: str
    ids: tuple[int, ...]
    drawn: int  # its pixel count right after it was drawn


class Renderer:
    """Renders frames sharing one view, roadway and camera; the static part is painted once."""

    def __init__(
        self, view: BeltView, backdrop: Backdrop, camera: Camera, *, seg: bool = False, boxes: bool = False
    ) -> None:
        self._view, self._camera, self._boxes = view, camera, boxes
        self._static = Canvas.blank(view.width, view.height, seg=seg)
        self._glows = paint_backdrop(self._static, view, backdrop)
        self._maps = exposure_maps(camera, view.width, view.height)
        region = np.zeros((view.height, view.width), np.uint8)
        cv2.fillPoly(region, [np.round(view.quad()).astype(np.int32)], 1)
        self._belt_region = region.astype(bool)

    def render(
        self,
        load: BeltLoad,
        objects: Sequence[BeltObject],
        people: Sequence[Person],
        *,
        noise_seed: int | Sequence[int],
        shift: float = 0.0,
    ) -> Rendered:
        """One frame, with the belt's contents moved ``shift`` metres along it."""
        view = self._view
        canvas = self._static.copy()
        if self._boxes:
            canvas.ids = np.zeros((view.height, view.width), np.int32)
        tracker = _Tracker(canvas)
        load = load.window(-shift, view.length_m - shift)
        paint_coal(canvas, view, load, shift)
        for index in range(len(load.big)):
            ident = tracker.new_id()
            paint_big_lump(canvas, view, load.big, index, shift, ident)
            tracker.drawn("large_lump", ident)
        load_fraction = None if canvas.seg is None else _load_fraction(canvas.seg)
        for obj in objects:
            ident = tracker.new_id()
            paint_object(canvas, view, obj, shift, ident)
            tracker.drawn(obj.kind, ident)
        motion_blur(canvas.image, self._belt_region, self._camera.blur_px, view.direction_deg)
        glows = list(self._glows)
        for person in sorted(people, key=lambda p: p.foot_y):  # farther people first
            body, head = tracker.new_id(), tracker.new_id()
            lamp = paint_person(canvas, person, body, head)
            tracker.drawn("person", body, head)
            tracker.drawn("head" if person.helmet is None else "helmet", head)
            if lamp is not None:
                glows.append(Glow(*lamp, radius=0.05 * person.height, strength=0.7))
        image = expose(canvas.image, self._camera, self._maps, glows, noise_seed)
        return Rendered(image, canvas.seg, tracker.boxes(), load_fraction)


def render(scene: Scene, *, seg: bool = False, boxes: bool = False) -> Rendered:
    """Render a still scene; ``seg`` and ``boxes`` ask for the label layers too."""
    renderer = Renderer(scene.view, scene.backdrop, scene.camera, seg=seg, boxes=boxes)
    return renderer.render(scene.load, scene.objects, scene.people, noise_seed=scene.camera.noise_seed)


def _load_fraction(seg: np.ndarray) -> float:
    coal = np.count_nonzero(seg == COAL)
    belt = coal + np.count_nonzero(seg == BELT)
    return coal / belt if belt else 0.0


class _Tracker:
    """Hands out instance ids and, when the canvas keeps an id map, records each labelled instance."""

    def __init__(self, canvas: Canvas) -> None:
        self._canvas = canvas
        self._ids = itertools.count(1)
        self._instances: list[_Instance] = []

    def new_id(self) -> int:
        return next(self._ids)

    def drawn(self, label: str, *ids: int) -> None:
        """Note an instance just drawn (as ``ids``) and how many pixels it covers before anything hides it."""
        if self._canvas.ids is not None:
            self._instances.append(
                _Instance(label, ids, int(np.count_nonzero(np.isin(self._canvas.ids, ids))))
            )

    def boxes(self) -> tuple[Box, ...]:
        """Each instance's visible extent, leaving out those mostly hidden by what was drawn later."""
        boxes = []
        for instance in self._instances:
            mask = np.isin(self._canvas.ids, instance.ids)
            if np.count_nonzero(mask) < max(MIN_BOX_PIXELS, MIN_VISIBLE * instance.drawn):
                continue
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            boxes.append(
                Box(instance.label, int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
            )
        return tuple(boxes)
