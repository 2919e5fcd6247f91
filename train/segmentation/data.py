"""Segmentation data from image + mask folders.

Layouts: ``images/<split>/*.jpg`` + ``masks/<split>/<stem>.png`` when split folders exist, else
flat ``images/`` + ``masks/`` split by a seeded fraction. Mask pixels are class indices (a palette
PNG's indices are read as they are); class names come from ``classes.json`` beside them or from
the configuration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import ImageError
from edge_runtime.preprocess import preprocess, read_image
from edge_runtime.segmentation import mask_to_input
from train.augment import AugmentConfig, augment_with_mask
from train.data import IMAGE_SUFFIXES, DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class MaskSample:
    path: Path
    mask: Path


def read_mask(path: Path) -> np.ndarray:
    """Class indices as uint8; palette PNGs keep their indices (PIL's 'P' mode), never RGB colours."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            array = np.asarray(image if image.mode in ("P", "L", "I;16", "I") else image.convert("L"))
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: not a readable mask ({exc})") from exc
    return array.astype(np.uint8)


def read_classes(root: Path, classes: list[str] | None) -> list[str]:
    if classes:
        return list(classes)
    file = root / "classes.json"
    if not file.is_file():
        raise DataError(f"{root}: no classes.json; list the class names in the configuration (data.classes)")
    return list(json.loads(file.read_text()))


def _pairs(images: Path, masks: Path) -> list[MaskSample]:
    samples = []
    for path in sorted(p for p in images.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        mask = masks / f"{path.stem}.png"
        if not mask.is_file():
            raise DataError(f"{path}: no mask {mask}")
        samples.append(MaskSample(path, mask))
    if not samples:
        raise DataError(f"{images}: no images found")
    return samples


def read_mask_splits(
    root: Path, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2
) -> dict[str, list[MaskSample]]:
    """The three splits: from ``images/<split>`` folders, or a seeded shuffle of flat folders."""
    images, masks = root / "images", root / "masks"
    if not images.is_dir() or not masks.is_dir():
        raise DataError(f"{root}: expected images/ and masks/ folders")
    if (images / "train").is_dir():
        return {split: _pairs(images / split, masks / split) for split in SPLITS}
    samples = _pairs(images, masks)
    order = np.random.default_rng(seed).permutation(len(samples))
    n_test, n_val = max(1, round(len(samples) * test_fraction)), max(1, round(len(samples) * val_fraction))
    picked = [samples[i] for i in order]
    return {
        "test": picked[:n_test],
        "val": picked[n_test : n_test + n_val],
        "train": picked[n_test + n_val :],
    }


def load_masked(
    spec: InputSpec, config: AugmentConfig, sample: MaskSample, rng: np.random.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A frame as (input tensor, label tensor at the input size); crops, rotations and flips move the
    mask with the image."""
    image, mask = read_image(sample.path), read_mask(sample.mask)
    if mask.shape != image.shape[:2]:
        mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
    if rng is not None:
        image, mask = augment_with_mask(image, mask, config, rng)
    labels = torch.from_numpy(mask_to_input(mask, spec).astype(np.int64))
    return torch.from_numpy(preprocess(image, spec)[0]), labels


def frame_mask(sample: MaskSample, frame_hw: tuple[int, int]) -> np.ndarray:
    """The sample's labels at the frame's size (the truth evaluation compares at frame resolution)."""
    mask = read_mask(sample.mask)
    return (
        mask if mask.shape == frame_hw else cv2.resize(mask, frame_hw[::-1], interpolation=cv2.INTER_NEAREST)
    )
