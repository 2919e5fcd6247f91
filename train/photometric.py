"""Underground photometric augmentations, switched by the data's own light.

Low light, haze, cap-lamp glare, water drops and motion blur imitate a mine camera. On bright
daylight photos they cost 2 to 3.5 pp top-1 in a classification test (issue 14): the model spends
capacity on conditions its data never shows. So the policy reads the training images' brightness
and contrast (the statistics ``train doctor`` measures) and keeps the underground set only for data
that looks underground; bright, contrasty data keeps the mild, general ones (gamma, sensor noise).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.errors import ImageError
from edge_runtime.preprocess import read_image
from train.augment import AugmentConfig

log = logging.getLogger(__name__)

UNDERGROUND = ("low_light", "haze", "glare", "water_drops", "motion_blur")
DAYLIGHT_MEAN_GREY = 90.0  # median frame brightness above which data counts as daylight
DAYLIGHT_CONTRAST = 45.0  # median standard deviation of grey levels above which it is contrasty


@dataclass(frozen=True)
class LightStatistics:
    median_grey: float
    median_contrast: float
    images: int

    @property
    def daylight(self) -> bool:
        return self.median_grey >= DAYLIGHT_MEAN_GREY and self.median_contrast >= DAYLIGHT_CONTRAST


def light_statistics(paths: Sequence[Path], sample: int = 200, seed: int = 0) -> LightStatistics:
    """Median grey level and grey standard deviation over a seeded sample of the images; unreadable
    ones are left out (training skips them too), and none readable gives NaN (not daylight)."""
    if not paths:
        raise ValueError("light_statistics needs at least one image")
    picked = np.random.default_rng(seed).permutation(len(paths))[:sample]
    greys = []
    for index in picked:
        try:
            greys.append(cv2.cvtColor(read_image(paths[index]), cv2.COLOR_BGR2GRAY))
        except ImageError:
            continue
    means = [float(g.mean()) for g in greys] or [float("nan")]
    contrasts = [float(g.std()) for g in greys] or [float("nan")]
    return LightStatistics(float(np.median(means)), float(np.median(contrasts)), len(greys))


def photometric_policy(stats: LightStatistics, base: AugmentConfig) -> AugmentConfig:
    """``base`` with the underground augmentations off when the data is daylight."""
    if not stats.daylight:
        return base
    return base.model_copy(update=dict.fromkeys(UNDERGROUND, 0.0))


def light_policy(config: AugmentConfig, paths: Sequence[Path]) -> AugmentConfig:
    """``config`` as a run applies it: ``underground`` on, off, or decided by the images' light."""
    if config.underground == "on":
        return config
    if config.underground == "off":
        return config.model_copy(update=dict.fromkeys(UNDERGROUND, 0.0))
    stats = light_statistics(paths)
    decided = photometric_policy(stats, config)
    log.info(
        "training images: median grey %.1f, contrast %.1f over %d -> underground augmentations %s",
        stats.median_grey,
        stats.median_contrast,
        stats.images,
        "off (daylight)" if stats.daylight else "on",
    )
    return decided
