"""Segmentation post-processing: per-pixel class logits -> a class mask in frame pixels.

The exported segmenter returns logits ``(N, classes, H, W)`` at the model-input size; the device
takes the arg-max there (cheap) and maps the class mask back to the frame with nearest-neighbour
resizing, undoing the manifest's resize. Area fractions per class are what the rules read
(e.g. "coal covers more than 60 % of the belt").
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge_runtime.bundle import InputSpec
from edge_runtime.geometry import input_map

IGNORE_INDEX = 255  # label value for pixels a mask does not describe (letterbox padding)


@dataclass(frozen=True)
class Segmentation:
    """A frame's class mask (frame size, uint8 class indices) and each class's share of the frame."""

    mask: np.ndarray
    fractions: dict[str, float]


def mask_to_frame(mask: np.ndarray, frame_hw: tuple[int, int], spec: InputSpec, fill: int = 0) -> np.ndarray:
    """Input-size class mask -> frame-size class mask (the inverse of ``preprocess.resize``)."""
    mapping = input_map(frame_hw, spec)
    scaled_h, scaled_w = mapping.scaled_size
    top, left = round(mapping.offset_y), round(mapping.offset_x)
    if spec.resize == "letterbox":
        mask = mask[top : top + scaled_h, left : left + scaled_w]
    elif spec.resize == "center_crop":
        canvas = np.full((scaled_h, scaled_w), fill, dtype=mask.dtype)
        canvas[-top : -top + mask.shape[0], -left : -left + mask.shape[1]] = mask
        mask = canvas
    return cv2.resize(mask, (frame_hw[1], frame_hw[0]), interpolation=cv2.INTER_NEAREST)


def mask_to_input(mask: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Frame-size label mask -> input-size labels, as ``preprocess.resize`` moves the pixels.

    Letterbox padding becomes ``IGNORE_INDEX`` so training does not learn the grey border.
    """
    mapping = input_map(mask.shape[:2], spec)
    height, width = spec.size
    scaled_h, scaled_w = mapping.scaled_size
    scaled = cv2.resize(mask, (scaled_w, scaled_h), interpolation=cv2.INTER_NEAREST)
    if spec.resize == "stretch":
        return scaled
    top, left = round(mapping.offset_y), round(mapping.offset_x)
    if spec.resize == "letterbox":
        canvas = np.full((height, width), IGNORE_INDEX, dtype=mask.dtype)
        canvas[top : top + scaled_h, left : left + scaled_w] = scaled
        return canvas
    return scaled[-top : -top + height, -left : -left + width]


def decode_masks(
    outputs: list[np.ndarray], frame_shapes: list[tuple[int, int]], spec: InputSpec, classes: list[str]
) -> list[Segmentation]:
    """Decode a batch of logits; ``frame_shapes`` are the (height, width) of the original frames."""
    logits = np.asarray(outputs[0])
    results = []
    for frame_logits, frame_hw in zip(logits, frame_shapes, strict=True):
        mask = mask_to_frame(frame_logits.argmax(axis=0).astype(np.uint8), frame_hw, spec)
        counts = np.bincount(mask.ravel(), minlength=len(classes))[: len(classes)]
        fractions = {c: float(n) / mask.size for c, n in zip(classes, counts, strict=True)}
        results.append(Segmentation(mask=mask, fractions=fractions))
    return results
