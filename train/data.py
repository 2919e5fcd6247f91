"""Training items from samples, fed through edge_runtime's preprocessing, and class-folder reading.

Datasets read BGR frames exactly as the device does, optionally augment them, then call
``edge_runtime.preprocess``, so training, evaluation and deployment share one input pipeline.
Unreadable samples are skipped and counted instead of crashing a run halfway.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import AditError, ImageError
from edge_runtime.preprocess import preprocess, read_image
from train.augment import AugmentConfig, augment

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
READ_AHEAD, READ_THREADS = 32, 4  # evaluation: frames decoded ahead of the model, and by how many threads

# (sample, rng or None when not augmenting) -> (input tensor, target)
LoadItem = Callable[[Any, np.random.Generator | None], tuple[torch.Tensor, Any]]


class DataError(AditError):
    """The data set's layout is not what the reader expects; the message names the folder."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


class KeyedDataset(Dataset):
    """Samples -> training items through a task's ``load``.

    Keys are an index or ``(epoch, index)`` from ``EpochSampler``: augmentation is seeded by
    (seed, epoch, index), a pure function, so a resumed run sees the same items, and the epoch
    travels with the key because persistent workers hold their own copy of the dataset.
    Unreadable samples yield ``None`` (the task's collate counts and drops them).
    """

    def __init__(
        self, samples: Sequence[Any], load: LoadItem, *, seed: int = 0, augment: bool = True
    ) -> None:
        self.samples = samples
        self.load = load
        self.seed = seed
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, Any] | None:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        rng = np.random.default_rng([self.seed, epoch, index]) if self.augment else None
        try:
            return self.load(self.samples[index], rng)
        except ImageError as exc:
            log.warning("skipping unreadable sample: %s", exc)
            return None


def load_classified(
    spec: InputSpec, config: AugmentConfig, sample: Sample, rng: np.random.Generator | None
) -> tuple[torch.Tensor, int]:
    """A class-folder sample as (input tensor, label), augmented when ``rng`` is given."""
    image = read_image(sample.path)
    if rng is not None:
        image = augment(image, config, rng)
    return torch.from_numpy(preprocess(image, spec)[0]), sample.label


def readable(frame_of: Callable[[Any], np.ndarray], samples: Sequence[Any]) -> Iterator[np.ndarray | None]:
    """Each sample's frame in order, or None (logged) when it cannot be read: evaluation skips it, not
    the run. Frames are decoded a chunk ahead on a few threads (OpenCV decodes without the GIL), and at
    most a chunk is held, whatever the size of the split."""

    def read(sample: Any) -> np.ndarray | None:
        try:
            return frame_of(sample)
        except ImageError as exc:
            log.warning("not evaluated, unreadable: %s", exc)
            return None

    with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
        for start in range(0, len(samples), READ_AHEAD):
            yield from pool.map(read, samples[start : start + READ_AHEAD])


def list_class_folders(split_dir: Path, classes: list[str] | None = None) -> tuple[list[str], list[Sample]]:
    """Read ``split_dir/<class>/<image>``; class order is alphabetical unless ``classes`` is given."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: split folder not found (expected <data>/<split>/<class>/<image>)")
    found = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    classes = classes or found
    unknown = set(found) - set(classes)
    if unknown:
        raise DataError(
            f"{split_dir}: class folders {sorted(unknown)} are not among the training classes {classes}"
        )
    samples = [
        Sample(path, index)
        for index, name in enumerate(classes)
        for path in sorted((split_dir / name).glob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not samples:
        raise DataError(f"{split_dir}: no images found")
    return classes, samples


def fingerprint(entries: Sequence[str]) -> str:
    """A digest of sample descriptions (names, sizes, labels): enough to tell two data sets apart."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.encode())
    return digest.hexdigest()[:16]


def files_entries(paths: Sequence[Path]) -> list[str]:
    return [f"{path.parent.name}/{path.name}:{path.stat().st_size}" for path in paths]
