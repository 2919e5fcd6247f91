"""Classification data from class folders, fed through edge_runtime's preprocessing.

The dataset reads BGR frames exactly as the device does, optionally augments them, then calls
``edge_runtime.preprocess`` so training, evaluation and deployment share one input pipeline.
Unreadable images are skipped and counted instead of crashing a run halfway.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import AditError, ImageError
from edge_runtime.preprocess import preprocess, read_image
from train.augment import AugmentConfig, augment

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


class DataError(AditError):
    """The data set's layout is not what the reader expects; the message names the folder."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


def list_class_folders(split_dir: Path, classes: list[str] | None = None) -> tuple[list[str], list[Sample]]:
    """Read ``split_dir/<class>/<image>``; class order is alphabetical unless ``classes`` is given."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: split folder not found (expected <data>/<split>/<class>/<image>)")
    found = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    classes = classes or found
    unknown = set(found) - set(classes)
    if unknown:
        raise DataError(f"{split_dir}: class folders {sorted(unknown)} are not among the training classes {classes}")
    samples = [
        Sample(path, index)
        for index, name in enumerate(classes)
        for path in sorted((split_dir / name).glob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise DataError(f"{split_dir}: no images found")
    return classes, samples


def fingerprint(samples: list[Sample]) -> str:
    """A digest of file names, sizes and labels: enough to tell two data sets apart in provenance."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(f"{sample.path.parent.name}/{sample.path.name}:{sample.path.stat().st_size}:{sample.label}".encode())
    return digest.hexdigest()[:16]


class ClassFolderDataset(Dataset):
    def __init__(
        self,
        samples: list[Sample],
        spec: InputSpec,
        augment_config: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.samples = samples
        self.spec = spec
        self.augment_config = augment_config
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def targets(self) -> list[int]:
        return [s.label for s in self.samples]

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, int]:
        """``key`` is an index, or (epoch, index) from ``EpochSampler``: the epoch seeds the
        augmentation, and travels with the key because persistent workers hold their own copy
        of the dataset."""
        epoch, index = key if isinstance(key, tuple) else (0, key)
        sample = self.samples[index]
        try:
            image = read_image(sample.path)
        except ImageError as exc:
            log.warning("skipping unreadable image: %s", exc)
            return torch.zeros(3, *self.spec.size), -1  # filtered out by ``collate_skipping``
        if self.augment_config is not None:
            rng = np.random.default_rng([self.seed, epoch, index])
            image = augment(image, self.augment_config, rng)
        return torch.from_numpy(preprocess(image, self.spec)[0]), sample.label


def collate_skipping(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Stack a batch, leaving out images that failed to read (label -1); also return how many."""
    kept = [(x, y) for x, y in batch if y >= 0]
    skipped = len(batch) - len(kept)
    if not kept:
        return torch.empty(0), torch.empty(0, dtype=torch.long), skipped
    images, labels = zip(*kept, strict=True)
    return torch.stack(images), torch.tensor(labels), skipped
