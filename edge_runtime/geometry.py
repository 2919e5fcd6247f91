"""Where a frame pixel lands in the model input, and back: the inverse of ``preprocess.resize``.

Detection boxes and segmentation masks come out of the model in input pixels; the device reports
them in frame pixels, and training maps labels the other way. Both use this one affine map, which
mirrors each resize mode of ``edge_runtime.preprocess.resize`` exactly (same rounding, same offsets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_runtime.bundle import InputSpec


@dataclass(frozen=True)
class InputMap:
    """``input = frame * scale + offset`` per axis, and the scaled frame's size before pad/crop."""

    scale_x: float
    scale_y: float
    offset_x: float
    offset_y: float
    scaled_size: tuple[int, int]  # (height, width) of the resized frame before letterbox pad / crop

    def to_input(self, boxes: np.ndarray) -> np.ndarray:
        """Frame-pixel xyxy boxes -> input-pixel xyxy boxes."""
        scale = np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y], dtype=np.float32)
        offset = np.array([self.offset_x, self.offset_y, self.offset_x, self.offset_y], dtype=np.float32)
        return np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * scale + offset

    def to_frame(self, boxes: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
        """Input-pixel xyxy boxes -> frame-pixel xyxy boxes, clipped to the frame."""
        scale = np.array([self.scale_x, self.scale_y, self.scale_x, self.scale_y], dtype=np.float32)
        offset = np.array([self.offset_x, self.offset_y, self.offset_x, self.offset_y], dtype=np.float32)
        frame = (np.asarray(boxes, dtype=np.float32).reshape(-1, 4) - offset) / scale
        height, width = frame_hw
        return np.clip(frame, 0, [width, height, width, height]).astype(np.float32)


def input_map(frame_hw: tuple[int, int], spec: InputSpec) -> InputMap:
    """The affine map ``preprocess.resize`` applies to a frame of ``frame_hw`` = (height, width)."""
    height, width = spec.size
    src_h, src_w = frame_hw
    if spec.resize == "stretch":
        return InputMap(width / src_w, height / src_h, 0.0, 0.0, (height, width))
    if spec.resize == "letterbox":
        ratio = min(height / src_h, width / src_w)
        new_w, new_h = round(src_w * ratio), round(src_h * ratio)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        return InputMap(new_w / src_w, new_h / src_h, float(left), float(top), (new_h, new_w))
    ratio = max(height / src_h, width / src_w)
    new_w, new_h = max(width, round(src_w * ratio)), max(height, round(src_h * ratio))
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return InputMap(new_w / src_w, new_h / src_h, float(-left), float(-top), (new_h, new_w))
