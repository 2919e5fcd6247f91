"""Underground corruptions at fixed severities (1 mild, 2 moderate, 3 severe), for measuring robustness.

The same six effects train/augment.py trains with (darkness, dust haze, motion blur, sensor noise,
cap-lamp glare, water drops on the lens), but with their strength set by the severity instead of
drawn at random, and their random placement seeded per image, so two artifacts see exactly the
same corrupted pictures. numpy and OpenCV only: no torch, runs wherever the edge runtime runs.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]
SEVERITIES = (1, 2, 3)
_CORRUPTIONS: dict[str, Corruption] = {}


def register_corruption(name: str) -> Callable[[Corruption], Corruption]:
    def decorate(function: Corruption) -> Corruption:
        if name in _CORRUPTIONS:
            raise ValueError(f"corruption {name!r} is already registered")
        _CORRUPTIONS[name] = function
        return function

    return decorate


def list_corruptions() -> list[str]:
    return list(_CORRUPTIONS)


def corrupt(image: np.ndarray, name: str, severity: int, seed: int) -> np.ndarray:
    """``image`` (BGR uint8) with corruption ``name`` at ``severity``; the same seed, the same result."""
    if name not in _CORRUPTIONS:
        raise ValueError(f"no corruption {name!r}; known: {', '.join(_CORRUPTIONS)}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity}")
    return _CORRUPTIONS[name](image, severity, np.random.default_rng(seed))


@register_corruption("darkness")
def darkness(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    gamma, gain = {1: (1.4, 0.6), 2: (1.9, 0.4), 3: (2.5, 0.22)}[severity]
    return np.clip((image / 255.0) ** gamma * gain * 255.0, 0, 255).astype(np.uint8)


@register_corruption("haze")
def haze(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    density = {1: 0.25, 2: 0.45, 3: 0.65}[severity]
    return cv2.addWeighted(image, 1 - density, np.full_like(image, 130), density, 0)


@register_corruption("blur")
def blur(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    length = {1: 5, 2: 9, 3: 15}[severity]
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0 / length  # along the belt
    return cv2.filter2D(image, -1, kernel)


@register_corruption("noise")
def noise(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    sigma = {1: 8.0, 2: 16.0, 3: 28.0}[severity]
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


@register_corruption("glare")
def glare(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    radius = {1: 0.08, 2: 0.14, 3: 0.22}[severity] * w
    bloom = np.zeros((h, w), np.float32)
    cv2.circle(bloom, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(radius), 1.0, -1)
    bloom = cv2.GaussianBlur(bloom, (0, 0), sigmaX=0.5 * radius) * 230.0
    return np.clip(image + bloom[..., None], 0, 255).astype(np.uint8)


@register_corruption("water_drops")
def water_drops(image: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    drops, sigma = {1: (3, 4), 2: (6, 6), 3: (10, 8)}[severity]
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)
    mask = np.zeros(image.shape[:2], np.uint8)
    h, w = mask.shape
    for _ in range(drops):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        cv2.circle(mask, centre, int(rng.uniform(0.04, 0.09) * w), 255, -1)
    return np.where(mask[..., None] > 0, blurred, image)
