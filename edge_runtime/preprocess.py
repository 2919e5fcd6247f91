"""The one preprocessing implementation: BGR uint8 frames -> model input tensor.

Training evaluation, export calibration and accuracy gates, benchmarks and the daemon all call
``preprocess`` with the manifest's ``InputSpec``, so what the workstation measures is what the
device runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import ImageError

LETTERBOX_FILL = 114  # the grey Ultralytics and YOLO exporters pad with


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as 3-channel BGR uint8, whatever its depth or channel count."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: file is empty (0 bytes)")
    raw = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"{path}: not a readable image (truncated, or not an image format)")
    return to_bgr8(image, source=str(path))


def to_bgr8(image: np.ndarray, *, source: str = "image") -> np.ndarray:
    """Normalise grayscale, BGRA and 16-bit images to the BGR uint8 every model expects."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{source}: unsupported pixel type {image.dtype}")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"{source}: expected an H x W x 3 image, got shape {image.shape}")
    if min(image.shape[:2]) < 2:
        raise ImageError(f"{source}: image of {image.shape[1]}x{image.shape[0]} pixels is too small")
    return image


def resize(image: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Resize a BGR frame to the model's (height, width) by the manifest's resize mode."""
    height, width = spec.size
    if spec.resize == "stretch":
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    src_h, src_w = image.shape[:2]
    if spec.resize == "letterbox":
        ratio = min(height / src_h, width / src_w)
        new_w, new_h = round(src_w * ratio), round(src_h * ratio)
        scaled = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((height, width, 3), LETTERBOX_FILL, dtype=np.uint8)
        top, left = (height - new_h) // 2, (width - new_w) // 2
        canvas[top : top + new_h, left : left + new_w] = scaled
        return canvas
    ratio = max(height / src_h, width / src_w)
    new_w, new_h = max(width, round(src_w * ratio)), max(height, round(src_h * ratio))
    scaled = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return scaled[top : top + height, left : left + width]


def resized_batch(images: np.ndarray | Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """One BGR uint8 frame or a sequence of them, resized per ``spec`` and stacked (N, H, W, 3) uint8.

    The geometric half of ``preprocess``; an OpenVINO graph with the rest built in takes it as is
    (``backends/openvino_preprocess.py``).
    """
    frames = [images] if isinstance(images, np.ndarray) and images.ndim == 3 else list(images)
    if not frames:
        raise ImageError("preprocess: got an empty batch")
    return np.stack([resize(to_bgr8(frame), spec) for frame in frames])


def preprocess(images: np.ndarray | Sequence[np.ndarray], spec: InputSpec) -> np.ndarray:
    """Turn one BGR uint8 frame or a sequence of them into a float32 batch laid out per ``spec``."""
    batch = resized_batch(images, spec)
    if spec.colour == "rgb":
        batch = batch[..., ::-1]
    mean = np.asarray(spec.mean, dtype=np.float32)
    inv_std = 1.0 / np.asarray(spec.std, dtype=np.float32)
    tensor = (batch.astype(np.float32) * np.float32(spec.scale) - mean) * inv_std
    if spec.layout == "NCHW":
        tensor = tensor.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(tensor, dtype=np.float32)
