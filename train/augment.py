"""Underground augmentations on BGR uint8 frames, applied before the shared preprocessing.

They imitate what the mine does to a camera: low and uneven light, gamma (auto-exposure swings),
dust haze, sensor noise, motion blur along the belt, cap-lamp glare and water drops on the lens,
plus the usual geometric ones: flips, a random crop (the model input is resized from it by the
shared preprocessing) and a small rotation (a camera bolted slightly askew). The geometric ones
are mild by default: a foreign object near the frame edge must not be cropped out of its label.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


class AugmentConfig(BaseModel):
    """Probability of each augmentation (0 disables it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resized_crop: float = Field(0.3, ge=0, le=1, description="keep 75-100% of the area, aspect 3:4-4:3")
    rotate: float = Field(0.2, ge=0, le=1, description="up to 8 degrees either way, edges reflected")
    hflip: float = Field(0.5, ge=0, le=1)
    gamma: float = Field(0.3, ge=0, le=1, description="gamma 0.6-1.6: over- and under-exposure")
    low_light: float = Field(0.3, ge=0, le=1)
    haze: float = Field(0.2, ge=0, le=1)
    noise: float = Field(0.3, ge=0, le=1)
    motion_blur: float = Field(0.2, ge=0, le=1)
    glare: float = Field(0.15, ge=0, le=1)
    water_drops: float = Field(0.1, ge=0, le=1)
    underground: Literal["auto", "on", "off"] = Field(
        "auto",
        description="low light, haze, glare, water drops, motion blur; auto: on unless the training "
        "images are bright and contrasty daylight (train.photometric)",
    )


def _crop_window(image: np.ndarray, rng: np.random.Generator) -> tuple[slice, slice]:
    h, w = image.shape[:2]
    area = rng.uniform(0.75, 1.0) * h * w
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch, cw = min(h, round(np.sqrt(area / aspect))), min(w, round(np.sqrt(area * aspect)))
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return slice(top, top + ch), slice(left, left + cw)


def _rotation(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-8, 8), 1.0)


def _warp(image: np.ndarray, matrix: np.ndarray, interpolation: int) -> np.ndarray:
    size = (image.shape[1], image.shape[0])
    return cv2.warpAffine(image, matrix, size, flags=interpolation, borderMode=cv2.BORDER_REFLECT_101)


def resized_crop(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows, cols = _crop_window(image, rng)
    return image[rows, cols].copy()


def rotate(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _warp(image, _rotation(image, rng), cv2.INTER_LINEAR)


def gamma(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    table = ((np.arange(256) / 255.0) ** rng.uniform(0.6, 1.6) * 255).round().astype(np.uint8)
    return cv2.LUT(image, table)


def hflip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return image[:, ::-1].copy()


def low_light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darken with a random gamma and a light pool that falls off across the frame."""
    h, w = image.shape[:2]
    gamma = rng.uniform(1.2, 2.2)
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    yy, xx = np.mgrid[0:h, 0:w]
    falloff = np.exp(-(((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2) * rng.uniform(1, 4))
    scaled = (image.astype(np.float32) / 255.0) ** gamma * (0.4 + 0.6 * falloff[..., None])
    return np.clip(scaled * 255.0, 0, 255).astype(np.uint8)


def haze(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    density = rng.uniform(0.15, 0.5)
    grey = rng.uniform(90, 170)
    return cv2.addWeighted(image, 1 - density, np.full_like(image, int(grey)), density, 0)


def noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(4, 18)
    noisy = image.astype(np.float32) + rng.normal(0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def motion_blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    length = int(rng.integers(3, 12))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length
    return cv2.filter2D(image, -1, kernel)


def glare(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cap lamp pointed at the lens: a bright bloom somewhere in the frame."""
    h, w = image.shape[:2]
    bloom = np.zeros((h, w), np.float32)
    cv2.circle(
        bloom, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(0.03, 0.12) * w), 1.0, -1
    )
    bloom = cv2.GaussianBlur(bloom, (0, 0), sigmaX=0.05 * w) * rng.uniform(150, 255)
    return np.clip(image.astype(np.float32) + bloom[..., None], 0, 255).astype(np.uint8)


def water_drops(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Drops on the lens blur small round patches of the picture."""
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=4)
    mask = np.zeros(image.shape[:2], np.uint8)
    h, w = mask.shape
    for _ in range(int(rng.integers(2, 8))):
        cv2.circle(
            mask, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(0.02, 0.08) * w), 255, -1
        )
    return np.where(mask[..., None] > 0, blurred, image)


GEOMETRIC = ("resized_crop", "rotate", "hflip")
_AUGMENTS: dict[str, Augment] = {  # geometric first, then light, then what sits on the lens
    "resized_crop": resized_crop,
    "rotate": rotate,
    "hflip": hflip,
    "gamma": gamma,
    "low_light": low_light,
    "haze": haze,
    "noise": noise,
    "motion_blur": motion_blur,
    "glare": glare,
    "water_drops": water_drops,
}


def augment(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Apply each enabled augmentation with its probability, in a fixed order."""
    for name, fn in _AUGMENTS.items():
        if rng.random() < getattr(config, name):
            image = fn(image, rng)
    return image


def augment_with_mask(
    image: np.ndarray, mask: np.ndarray, config: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The geometric augmentations applied alike to the image and its label mask (nearest neighbour for
    the labels), then the photometric ones to the image alone."""
    if rng.random() < config.resized_crop:
        rows, cols = _crop_window(image, rng)
        image, mask = image[rows, cols].copy(), mask[rows, cols].copy()
    if rng.random() < config.rotate:
        matrix = _rotation(image, rng)
        image, mask = _warp(image, matrix, cv2.INTER_LINEAR), _warp(mask, matrix, cv2.INTER_NEAREST)
    if rng.random() < config.hflip:
        image, mask = image[:, ::-1].copy(), mask[:, ::-1].copy()
    return augment(image, photometric_only(config), rng), mask


def photometric_only(config: AugmentConfig) -> AugmentConfig:
    """``config`` without the geometric augmentations (a caller that moves labels applies those)."""
    return config.model_copy(update=dict.fromkeys(GEOMETRIC, 0.0))
