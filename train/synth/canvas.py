"""A frame being drawn, plus the label layers every draw call keeps in step with it.

Drawing each shape once into the image, the segmentation mask and the instance-id map is what makes
labels match pixels: masks are the drawn polygons and boxes are read back from the id map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

BGR = tuple[float, float, float]

SUBPIXEL_BITS = 4  # OpenCV's fixed-point shift: vertices keep 1/16 px precision
_SCALE = float(1 << SUBPIXEL_BITS)


@dataclass(eq=False)
class Canvas:
    """The BGR image, and optionally a class-index mask and an instance-id map (0 = untracked)."""

    image: np.ndarray
    seg: np.ndarray | None = None
    ids: np.ndarray | None = None

    @classmethod
    def blank(cls, width: int, height: int, *, seg: bool = False, ids: bool = False) -> Canvas:
        return cls(
            np.zeros((height, width, 3), np.uint8),
            np.zeros((height, width), np.uint8) if seg else None,
            np.zeros((height, width), np.int32) if ids else None,
        )

    def copy(self) -> Canvas:
        return Canvas(
            *(None if layer is None else layer.copy() for layer in (self.image, self.seg, self.ids))
        )

    def fill(
        self,
        polygon: np.ndarray,
        colour: BGR | None,
        *,
        seg: int | None = None,
        ident: int | None = None,
    ) -> None:
        """Fill one polygon (pixel coordinates); ``None`` leaves that layer (or the image) untouched.

        One polygon per call: OpenCV fills several polygons of one call with the even-odd rule, so
        overlapping lumps drawn together would punch holes in each other.
        """
        points = [_fixed(polygon)]
        if colour is not None:
            cv2.fillPoly(self.image, points, colour, cv2.LINE_AA, SUBPIXEL_BITS)
        self._label(
            lambda layer, value: cv2.fillPoly(layer, points, value, cv2.LINE_8, SUBPIXEL_BITS), seg, ident
        )

    def fill_all(self, polygons: np.ndarray, colours: np.ndarray, *, seg: int | None = None) -> None:
        """Fill polygons of equal vertex count, shape (n, k, 2), one by one in order, colours (n, 3)."""
        fixed = np.round(polygons * _SCALE).astype(np.int32)
        for points, colour in zip(fixed, colours.tolist(), strict=True):
            cv2.fillPoly(self.image, [points], colour, cv2.LINE_AA, SUBPIXEL_BITS)
            if seg is not None and self.seg is not None:
                cv2.fillPoly(self.seg, [points], seg, cv2.LINE_8, SUBPIXEL_BITS)

    def stroke(
        self,
        polyline: np.ndarray,
        colour: BGR,
        thickness: float,
        *,
        seg: int | None = None,
        ident: int | None = None,
    ) -> None:
        """Draw an open polyline with round caps, ``thickness`` pixels wide."""
        points = [_fixed(polyline)]
        width = max(1, round(thickness))
        cv2.polylines(self.image, points, False, colour, width, cv2.LINE_AA, SUBPIXEL_BITS)
        self._label(
            lambda layer, value: cv2.polylines(layer, points, False, value, width, cv2.LINE_8, SUBPIXEL_BITS),
            seg,
            ident,
        )

    def _label(self, draw: Callable[[np.ndarray, int], object], seg: int | None, ident: int | None) -> None:
        if seg is not None and self.seg is not None:
            draw(self.seg, seg)
        if ident is not None and self.ids is not None:
            draw(self.ids, ident)


def ellipse(
    cx: float, cy: float, rx: float, ry: float, *, start: float = 0.0, end: float = 360.0, points: int = 24
) -> np.ndarray:
    """Points of an axis-aligned elliptical arc (degrees; image convention, y down) as (points, 2)."""
    t = np.radians(np.linspace(start, end, points))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The four corners of an axis-aligned rectangle, as a polygon."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def grey(level: float, tint: Sequence[float] = (1.0, 1.0, 1.0)) -> BGR:
    """A BGR colour of the given brightness, optionally tinted, clipped to 0..255."""
    b, g, r = (min(max(float(level * t), 0.0), 255.0) for t in tint)
    return (b, g, r)


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, np.float64).reshape(-1, 2) * _SCALE).astype(np.int32)
