"""Class folders: ``<split>/<class>/<image>`` or ``<class>/<image>``; the folder name is the label."""

from __future__ import annotations

from pathlib import Path

from train.doctor.records import SPLIT_ORDER, ImageRecord, is_image
from train.doctor.report import DoctorConfig, Report


class ClassFolders:
    name = "class-folders"
    movable = True

    def __init__(self, root: Path) -> None:
        self.root = root
        splits = [root / s for s in SPLIT_ORDER if (root / s).is_dir()]
        self._folders = (
            {(split.name, c.name): c for split in splits for c in sorted(split.iterdir()) if c.is_dir()}
            if splits
            else {("all", c.name): c for c in sorted(root.iterdir()) if c.is_dir()}
        )
        self.records = [
            ImageRecord(p, split, name)
            for (split, name), folder in self._folders.items()
            for p in sorted(folder.iterdir())
            if is_image(p)
        ]
        self.classes = sorted({name for _, name in self._folders})

    def survey(self, report: Report) -> None:
        for (split, name), folder in self._folders.items():
            if not any(is_image(p) for p in folder.iterdir()):
                # training lists class folders, so an empty one still becomes a class nobody can predict
                report.add(
                    "error",
                    "empty_class_folder",
                    f"{folder}: no images; training would still make {name!r} a class. "
                    "Add images or remove the folder",
                    folder,
                )
            report.class_counts.setdefault(split, {}).setdefault(name, 0)

    def check(
        self, report: Report, record: ImageRecord, size_hw: tuple[int, int], config: DoctorConfig
    ) -> None:
        report.count(record.split, record.label)

    def finish(self, report: Report) -> None:
        """Nothing beyond the images."""
