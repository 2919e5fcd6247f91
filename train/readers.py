"""Classification data as users have it: class folders or a CSV of (path, label), split by
folder or by a seeded, per-class fraction.

Every reader returns the same thing, so the engine, export and benchmarks never care which
layout the data came in.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from train.config import ClassifyData
from train.data import IMAGE_SUFFIXES, DataError, Sample, fingerprint, list_class_folders
from train.task import TaskData


def read_csv(path: Path, classes: list[str] | None = None) -> tuple[list[str], list[Sample]]:
    """Rows ``path,label`` (an optional header ``path,label`` is skipped); paths relative to the CSV."""
    if not path.is_file():
        raise DataError(f"{path}: CSV file not found (expected rows path,label)")
    rows: list[tuple[Path, str]] = []
    with path.open(newline="") as handle:
        for number, row in enumerate(csv.reader(handle), start=1):
            if not row or (number == 1 and [c.strip().lower() for c in row[:2]] == ["path", "label"]):
                continue
            if len(row) < 2 or not row[1].strip():
                raise DataError(f"{path}:{number}: expected path,label, got {row!r}")
            file = Path(row[0].strip())
            rows.append((file if file.is_absolute() else path.parent / file, row[1].strip()))
    if not rows:
        raise DataError(f"{path}: no rows")
    found = sorted({label for _, label in rows})
    classes = classes or found
    unknown = set(found) - set(classes)
    if unknown:
        raise DataError(f"{path}: labels {sorted(unknown)} are not among the training classes {classes}")
    index = {name: i for i, name in enumerate(classes)}
    return classes, [
        Sample(file, index[label]) for file, label in rows if file.suffix.lower() in IMAGE_SUFFIXES
    ]


def fraction_split(
    samples: list[Sample], val_fraction: float, test_fraction: float, seed: int
) -> tuple[list[Sample], ...]:
    """Per class, a seeded shuffle cut into train/val/test, so rare classes appear in every split."""
    rng = np.random.default_rng(seed)
    parts: tuple[list[Sample], list[Sample], list[Sample]] = ([], [], [])
    for label in sorted({s.label for s in samples}):
        members = [s for s in samples if s.label == label]
        order = rng.permutation(len(members))
        n_val, n_test = round(len(members) * val_fraction), round(len(members) * test_fraction)
        for rank, position in enumerate(order):
            part = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
            parts[part].append(members[position])
    return parts


def read_splits(config: ClassifyData, seed: int) -> TaskData:
    """The data set named by ``config`` as train/val/test samples with one class list."""
    classes, train, val, test = _splits(config, seed)
    entries = [
        f"{s.path.parent.name}/{s.path.name}:{s.path.stat().st_size}:{s.label}" for s in train + val + test
    ]
    return TaskData(classes, train, val, test, fingerprint(entries), str(config.root))


def _splits(config: ClassifyData, seed: int) -> tuple[list[str], list[Sample], list[Sample], list[Sample]]:
    if config.split == "fraction":
        if config.format == "csv":
            classes, pool = read_csv(_csv_for(config, "train"))
        else:
            folder = config.root / "train" if (config.root / "train").is_dir() else config.root
            classes, pool = list_class_folders(folder)
        train, val, test = fraction_split(pool, config.val_fraction, config.test_fraction, seed)
        for name, part in (("val", val), ("test", test)):
            if not part:
                raise DataError(
                    f"{config.root}: {name}_fraction leaves the {name} split empty; raise it or add images"
                )
        return classes, train, val, test
    if config.format == "csv":
        classes, train = read_csv(_csv_for(config, "train"))
        return (
            classes,
            train,
            read_csv(_csv_for(config, "val"), classes)[1],
            read_csv(_csv_for(config, "test"), classes)[1],
        )
    classes, train = list_class_folders(config.root / "train")
    return (
        classes,
        train,
        list_class_folders(config.root / "val", classes)[1],
        list_class_folders(config.root / "test", classes)[1],
    )


def _csv_for(config: ClassifyData, split: str) -> Path:
    if split not in config.csv:
        raise DataError(
            f"data.csv has no {split!r} entry (give data.csv.{split}=<file.csv>, relative to data.root)"
        )
    path = config.csv[split]
    return path if path.is_absolute() else config.root / path
