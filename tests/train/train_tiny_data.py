"""Tiny class-folder data for the training tests, written in milliseconds with OpenCV.

Three classes told apart by the colour of a disc on a noisy grey background; each image is
distinct (random position, size and noise), so duplicate detection sees none by accident.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CLASSES = {"blue_disc": (200, 60, 40), "green_disc": (50, 190, 60), "red_disc": (40, 50, 210)}


def disc_image(rng: np.random.Generator, colour: tuple[int, int, int], size: int = 40) -> np.ndarray:
    image = rng.normal(110, 20, (size, size, 3)).clip(0, 255).astype(np.uint8)
    centre = (int(rng.integers(12, size - 12)), int(rng.integers(12, size - 12)))
    cv2.circle(image, centre, int(rng.integers(6, 11)), colour, -1)
    return image


def write_class_folders(root: Path, per_split: dict[str, int], seed: int = 0) -> Path:
    """``root/<split>/<class>/<n>.png`` with ``per_split[split]`` images per class."""
    rng = np.random.default_rng(seed)
    for split, count in per_split.items():
        for name, colour in CLASSES.items():
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(count):
                cv2.imwrite(str(folder / f"{split}_{n:03d}.png"), disc_image(rng, colour))
    return root
