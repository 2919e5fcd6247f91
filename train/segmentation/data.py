"""Segmentation data from image + mask folders.

Layouts: ``images/<split>/*.jpg`` + ``masks/<split>/<stem>.png`` when split folders exist, else
flat ``images/`` + ``masks/`` split by a seeded fraction. Mask pixels are class indices (a palette
PNG's indices are read as they are); class names come from ``classes.json`` beside them or from
the configuration.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from edge_runtime.errors import ImageError
from edge_runtime.preprocess import preprocess, read_image
from edge_runtime.segmentation import IGNORE_INDEX, mask_to_input
from train.augment import augment
from train.data import IMAGE_SUFFIXES, DataError
from train.dense import LabelledFrames

log = logging.getLogger(__name__)

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


def read_mask_splits(root: Path, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2) -> dict[str, list[MaskSample]]:
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
    return {"test": picked[:n_test], "val": picked[n_test : n_test + n_val], "train": picked[n_test + n_val :]}


class MaskDataset(LabelledFrames):
    """Frames -> (input tensor, label tensor at the input size); unreadable pairs yield ``None``."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        sample = self.samples[index]
        try:
            image, mask = read_image(sample.path), read_mask(sample.mask)
        except ImageError as exc:
            log.warning("skipping unreadable pair: %s", exc)
            return None
        if mask.shape != image.shape[:2]:
            mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        if self.augment_config is not None:
            rng = np.random.default_rng([self.seed, index, int(torch.randint(0, 2**31, (1,)))])
            image = augment(image, self.augment_config, rng)
            if rng.random() < self.hflip:
                image, mask = image[:, ::-1].copy(), mask[:, ::-1].copy()
        labels = torch.from_numpy(mask_to_input(mask, self.spec).astype(np.int64))
        return torch.from_numpy(preprocess(image, self.spec)[0]), labels


def collate_masks(batch: list) -> tuple[torch.Tensor, torch.Tensor]:
    kept = [item for item in batch if item is not None]
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.long)
    return torch.stack([i for i, _ in kept]), torch.stack([m for _, m in kept])


__all__ = ["IGNORE_INDEX", "MaskDataset", "MaskSample", "collate_masks", "read_classes", "read_mask", "read_mask_splits"]
