"""The belt plane seen by the camera: a homography from belt metres to image pixels.

Coal, foreign objects and the belt texture are laid out in metres on this plane and projected
through one homography, so perspective, object sizes and the video's scrolling all agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

BELT_WIDTH_M = 1.2


@dataclass(frozen=True)
class BeltView:
    """A camera's view of the belt: the frame size and where the visible belt stretch lies in it.

    Belt coordinates are metres: ``x`` along the belt (0 .. ``length_m``, the direction it runs) and
    ``y`` across it (0 at the far edge, ``belt_m`` at the near edge). ``corners`` are the pixel
    positions of (0, 0), (L, 0), (L, B) and (0, B).
    """

    width: int
    height: int
    length_m: float
    corners: tuple[tuple[float, float], ...]
    belt_m: float = BELT_WIDTH_M

    @cached_property
    def homography(self) -> np.ndarray:
        length, belt = self.length_m, self.belt_m
        plane = np.array([[0, 0], [length, 0], [length, belt], [0, belt]], np.float32)
        return cv2.getPerspectiveTransform(plane, np.array(self.corners, np.float32))

    def project(self, points: np.ndarray) -> np.ndarray:
        """Belt metres, shape (..., 2), to image pixels of the same shape (float32)."""
        pts = np.asarray(points, np.float32)
        if pts.size == 0:
            return pts
        return cv2.perspectiveTransform(pts.reshape(-1, 1, 2), self.homography).reshape(pts.shape)

    def edge_y(self, x: float | np.ndarray, *, near: bool) -> np.ndarray:
        """Image row of the belt's near or far edge at image column(s) ``x`` (edges are straight lines)."""
        (x0, y0), (x1, y1) = (
            (self.corners[3], self.corners[2]) if near else (self.corners[0], self.corners[1])
        )
        return y0 + (y1 - y0) * (np.asarray(x, np.float64) - x0) / (x1 - x0)

    def belt_px(self, x: float | np.ndarray) -> np.ndarray:
        """The belt's apparent width in pixels at image column(s) ``x``: the scene's local scale."""
        return self.edge_y(x, near=True) - self.edge_y(x, near=False)

    @property
    def direction_deg(self) -> float:
        """Image angle of the belt's running direction (for motion blur)."""
        (x0, y0), (x1, y1) = self.project(np.array([[0, self.belt_m / 2], [self.length_m, self.belt_m / 2]]))
        return float(np.degrees(np.arctan2(y1 - y0, x1 - x0)))

    def quad(self) -> np.ndarray:
        return np.array(self.corners, np.float32)


def sample_view(
    rng: np.random.Generator,
    width: int,
    height: int,
    *,
    length_m: float | None = None,
    mirror: bool | None = None,
) -> BeltView:
    """A camera pose: the belt crosses the frame, its far end (narrower) on the left unless mirrored.

    The camera stands on the walkway side and looks down at the belt, so the near edge sits lower
    in the frame and the walkway below it leaves room for people.
    """
    shift = rng.uniform(-0.04, 0.04)
    far_left = 0.42 + shift + rng.uniform(-0.03, 0.03)
    near_left = far_left + rng.uniform(0.17, 0.23)
    far_right = 0.30 + shift + rng.uniform(-0.04, 0.03)
    near_right = far_right + rng.uniform(0.44, 0.52)
    left, right = -rng.uniform(0.0, 0.03) * width, (1 + rng.uniform(0.0, 0.03)) * width
    corners = [
        (left, far_left * height),
        (right, far_right * height),
        (right, near_right * height),
        (left, near_left * height),
    ]
    if mirror is None:
        mirror = bool(rng.random() < 0.5)
    if mirror:
        # Mirror the frame but keep x growing to the right: the belt then runs away from the camera.
        corners = [(width - x, y) for x, y in (corners[1], corners[0], corners[3], corners[2])]
    length = rng.uniform(4.5, 6.5) if length_m is None else length_m
    return BeltView(width, height, length, tuple(corners))
