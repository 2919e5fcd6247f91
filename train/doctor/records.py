"""The doctor's view of a data set: its images (with the files that travel with each) and its layout.

Each layout (class folders, YOLO/Roboflow, COCO, images + masks) is one class implementing
``Layout`` and registered by name; ``layouts.find_layout`` picks the one a folder is in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from train.data import IMAGE_SUFFIXES
from train.doctor.report import DoctorConfig, Report

SPLIT_ORDER = ("train", "val", "valid", "validation", "test", "all")  # earlier splits keep a duplicated image


@dataclass
class ImageRecord:
    path: Path
    split: str
    label: str = ""  # class folder; detection: its classes, sorted; masks: ""
    companions: tuple[Path, ...] = ()  # a label file or mask that moves with the image on --fix
    digest: str = ""
    hash: int | None = None
    facts: dict[str, object] = field(default_factory=dict)  # per layout: a COCO image's listed size, ...
    size_hw: tuple[int, int] = (0, 0)  # decoded (height, width); (0, 0) until read
    boxes: list[tuple[str, float, float]] = field(default_factory=list)  # (class, width px, height px)


class Layout(Protocol):
    """A data set in one layout: its records, the checks of its labels, and what --fix may move."""

    name: str
    root: Path
    classes: list[str]
    records: list[ImageRecord]
    movable: bool  # False: files are listed in an annotation file, moving them would break it

    def survey(self, report: Report) -> None:
        """Layout-level findings before any image is read (missing splits, empty class folders, ...)."""

    def check(
        self, report: Report, record: ImageRecord, size_hw: tuple[int, int], config: DoctorConfig
    ) -> None:
        """The labels of one readable image (``size_hw``: its decoded height and width); a detection
        layout adds each usable box to ``record.boxes``, whose sizes are judged at the input size."""

    def finish(self, report: Report) -> None:
        """Findings after every image (label files or masks without an image, ...)."""


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if is_image(p)) if folder.is_dir() else []
