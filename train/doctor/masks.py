"""Images + masks: ``images/[<split>/]`` and ``masks/[<split>/]<stem>.png``, mask pixels class indices.

Class names come from ``classes.json`` beside the folders (optional). A mask must exist, be readable,
have its image's size and hold only known class indices (or 255, "not labelled"). Masks are labels,
not pictures: they are never judged for darkness or blur, and ``masks/`` is never a class.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge_runtime.errors import ImageError
from edge_runtime.segmentation import IGNORE_INDEX
from train.doctor.records import ImageRecord, images_in, is_image
from train.doctor.report import DoctorConfig, Report


def read_mask(path: Path) -> np.ndarray:
    from train.segmentation.data import read_mask as read  # palette PNGs keep their indices

    return read(path)


class Masks:
    name = "masks"
    movable = True

    def __init__(self, root: Path) -> None:
        self.root = root
        images, masks = root / "images", root / "masks"
        splits = sorted(p.name for p in images.iterdir() if p.is_dir())
        pairs = [(s, images / s, masks / s) for s in splits] or [("all", images, masks)]
        self.records = [
            ImageRecord(p, split, companions=(mask_dir / p.relative_to(image_dir).with_suffix(".png"),))
            for split, image_dir, mask_dir in pairs
            for p in images_in(image_dir)
        ]
        self._mask_dirs = [mask_dir for _, _, mask_dir in pairs]
        file = root / "classes.json"
        self.classes = [str(c) for c in json.loads(file.read_text())] if file.is_file() else []

    def survey(self, report: Report) -> None:
        report.classes = self.classes
        if not self.classes:
            report.add(
                "warning",
                "no_class_names",
                f"{self.root}: no classes.json; mask values are counted as "
                "numbers and cannot be checked against the classes",
            )

    def check(
        self, report: Report, record: ImageRecord, size_hw: tuple[int, int], config: DoctorConfig
    ) -> None:
        mask_path = record.companions[0]
        if not mask_path.is_file():
            report.add(
                "error",
                "missing_mask",
                f"{record.path}: no mask {mask_path}",
                record.path,
                True,
                record.companions,
            )
            return
        try:
            mask = read_mask(mask_path)
        except ImageError as exc:
            report.add("error", "unreadable_mask", str(exc), record.path, True, record.companions)
            return
        if mask.shape[:2] != size_hw:
            report.add(
                "error",
                "mask_size_mismatch",
                f"{mask_path}: {mask.shape[1]}x{mask.shape[0]}, its image {size_hw[1]}x{size_hw[0]}",
                record.path,
                True,
                record.companions,
            )
        values = [int(v) for v in np.unique(mask) if v != IGNORE_INDEX]
        if self.classes:
            unknown = [v for v in values if v >= len(self.classes)]
            if unknown:
                report.add(
                    "error",
                    "mask_unknown_value",
                    f"{mask_path}: values {unknown}, but classes.json names "
                    f"{len(self.classes)} classes (0..{len(self.classes) - 1}; 255 = not labelled)",
                    record.path,
                    True,
                    record.companions,
                )
            values = [v for v in values if v < len(self.classes)]
        names = [self.classes[v] if self.classes else str(v) for v in values]
        for name in names:
            report.count(record.split, name)  # images that show the class
        record.label = ",".join(sorted(names))

    def finish(self, report: Report) -> None:
        expected = {r.companions[0] for r in self.records}
        for folder in self._mask_dirs:
            for mask in sorted(p for p in folder.rglob("*") if is_image(p)) if folder.is_dir() else []:
                if mask not in expected:
                    report.add("warning", "orphan_mask", f"{mask}: no image with this name", mask)


def is_masks(root: Path) -> bool:
    return (root / "images").is_dir() and (root / "masks").is_dir()
