"""Augmentations that move boxes with the pixels: flip, scale jitter, mosaic.

They work on BGR uint8 frames with xyxy frame-pixel boxes, before edge_runtime's resize (stretch or
letterbox) maps both into the model input. Photometric augmentations (``train.augment``) do not
move boxes and run after these. A box cut by the frame edge is kept while at least
``min_visible`` of its area remains: a helmet half out of the picture is still a helmet, a sliver
of one is noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import Field, model_validator

from train.augment import AugmentConfig

PAD_GREY = 114  # the padding colour YOLO uses: mid-grey, neutral after normalisation


@dataclass(frozen=True)
class Boxed:
    image: np.ndarray  # BGR uint8
    boxes: np.ndarray  # (n, 4) float32 xyxy, frame pixels
    labels: np.ndarray  # (n,) int64


class BoxAugmentConfig(AugmentConfig):
    """Detection's augmentation: the box-aware geometric ones (probabilities, 0 disables) and the
    photometric ones of ``AugmentConfig``. ``resized_crop`` and ``rotate`` do not move boxes and are
    refused; ``scale_jitter`` crops and zooms with the boxes."""

    resized_crop: float = Field(0.0, ge=0, le=1, description="not for detection: use scale_jitter")
    rotate: float = Field(0.0, ge=0, le=1, description="not for detection: boxes cannot follow a rotation")
    scale_jitter: float = Field(
        0.5, ge=0, le=1, description="zoom in or out, then crop or pad to the frame size"
    )
    scale_range: tuple[float, float] = Field((0.6, 1.5), description="zoom factors drawn log-uniformly")
    mosaic: float = Field(0.0, ge=0, le=1, description="four frames in the quadrants around a random centre")
    min_visible: float = Field(0.4, gt=0, le=1, description="share of a cut box's area that must remain")

    @model_validator(mode="after")
    def _boxes_follow_every_transform(self) -> BoxAugmentConfig:
        moved = [name for name in ("resized_crop", "rotate") if getattr(self, name) > 0]
        if moved:
            raise ValueError(
                f"{', '.join(moved)} would move the pixels without the boxes; set 0 and use "
                "scale_jitter (zoom and crop that move the boxes), hflip or mosaic"
            )
        return self


def hflip(item: Boxed) -> Boxed:
    width = item.image.shape[1]
    boxes = item.boxes.copy()
    boxes[:, [0, 2]] = width - item.boxes[:, [2, 0]]
    return Boxed(item.image[:, ::-1].copy(), boxes, item.labels)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _warp(
    item: Boxed, scale: float, dx: float, dy: float, out_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The frame scaled by ``scale`` and shifted by (dx, dy) on an ``out_hw`` canvas, and its moved boxes."""
    matrix = np.array([[scale, 0, dx], [0, scale, dy]], np.float32)
    image = cv2.warpAffine(
        item.image, matrix, (out_hw[1], out_hw[0]), flags=cv2.INTER_LINEAR, borderValue=(PAD_GREY,) * 3
    )
    return image, (item.boxes * scale + np.array([dx, dy, dx, dy], np.float32)).astype(np.float32)


def _visible(
    moved: np.ndarray, region: tuple[float, float, float, float], min_visible: float
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes clipped to ``region`` (x1, y1, x2, y2) and the mask of those still visible enough."""
    x1, y1, x2, y2 = region
    inside = np.clip(moved, [x1, y1, x1, y1], [x2, y2, x2, y2]).astype(np.float32)
    keep = (_area(inside) >= min_visible * np.maximum(_area(moved), 1e-6)) & (_area(inside) >= 4)
    return inside, keep


def scale_jitter(
    item: Boxed, rng: np.random.Generator, scale_range: tuple[float, float], min_visible: float
) -> Boxed:
    """Zoom by a log-uniform factor about a random point; the frame keeps its size."""
    height, width = item.image.shape[:2]
    scale = float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
    dx = rng.uniform(min(0.0, width - width * scale), max(0.0, width - width * scale))
    dy = rng.uniform(min(0.0, height - height * scale), max(0.0, height - height * scale))
    image, moved = _warp(item, scale, dx, dy, (height, width))
    inside, keep = _visible(moved, (0, 0, width, height), min_visible)
    return Boxed(image, inside[keep], item.labels[keep])


def mosaic(items: list[Boxed], rng: np.random.Generator, min_visible: float) -> Boxed:
    """Four frames, each scaled to cover one quadrant around a random centre, on the first frame's canvas.

    Objects shrink by about half: the small-object practice a detector of distant helmets needs.
    """
    height, width = items[0].image.shape[:2]
    cx, cy = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    canvas = np.full_like(items[0].image, PAD_GREY)
    boxes, labels = [], []
    quadrants = [(0.0, 0.0, cx, cy), (cx, 0.0, width, cy), (0.0, cy, cx, height), (cx, cy, width, height)]
    for item, region in zip(items, quadrants, strict=True):
        x1, y1, x2, y2 = region
        src_h, src_w = item.image.shape[:2]
        scale = max((x2 - x1) / src_w, (y2 - y1) / src_h) * rng.uniform(1.0, 1.3)
        # the scaled frame's corner nearest the centre sits at the centre
        dx = x1 if x1 > 0 else cx - src_w * scale
        dy = y1 if y1 > 0 else cy - src_h * scale
        image, moved = _warp(item, scale, dx, dy, (height, width))
        ix1, iy1, ix2, iy2 = (int(round(v)) for v in region)
        canvas[iy1:iy2, ix1:ix2] = image[iy1:iy2, ix1:ix2]
        inside, keep = _visible(moved, (ix1, iy1, ix2, iy2), min_visible)
        boxes.append(inside[keep])
        labels.append(item.labels[keep])
    return Boxed(canvas, np.concatenate(boxes).reshape(-1, 4), np.concatenate(labels).astype(np.int64))


def augment_boxes(
    item: Boxed, config: BoxAugmentConfig, rng: np.random.Generator, draw: Callable[[], Boxed]
) -> Boxed:
    """Mosaic (with three frames from ``draw``) or scale jitter, then the flip."""
    if rng.random() < config.mosaic:
        item = mosaic([item, draw(), draw(), draw()], rng, config.min_visible)
    elif rng.random() < config.scale_jitter:
        item = scale_jitter(item, rng, config.scale_range, config.min_visible)
    if rng.random() < config.hflip:
        item = hflip(item)
    return item
