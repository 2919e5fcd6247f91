"""Which layout a data path is in: each layout's test, tried in order, most specific first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from train.data import DataError
from train.doctor.coco import Coco, annotation_files
from train.doctor.folders import ClassFolders
from train.doctor.masks import Masks, is_masks
from train.doctor.records import Layout
from train.doctor.yolo import Yolo, find_data_yaml, is_yolo


def _yolo(path: Path) -> Yolo:
    return Yolo(path.parent if path.is_file() else path, find_data_yaml(path))


# (name, does this path look like it?, open it): a folder with images/ + masks/ and a data.yaml is YOLO
LAYOUTS: tuple[tuple[str, Callable[[Path], bool], Callable[[Path], Layout]], ...] = (
    ("yolo", lambda p: find_data_yaml(p) is not None or is_yolo(p), _yolo),
    ("masks", is_masks, Masks),
    ("coco", lambda p: bool(annotation_files(p)), lambda p: Coco(p, annotation_files(p))),
    ("class-folders", lambda p: p.is_dir(), ClassFolders),
)


def find_layout(path: Path) -> Layout:
    """The layout ``path`` (a folder, a data.yaml or a COCO json) is in; DataError when none fits."""
    if not path.exists():
        raise DataError(f"{path}: data folder not found")
    for name, looks, open_it in LAYOUTS:
        if looks(path):
            layout = open_it(path)
            if not layout.records:
                raise DataError(f"{path}: no images found (read as {name})")
            return layout
    raise DataError(
        f"{path}: not a data set (expected class folders, a YOLO data.yaml or images/ + labels/, "
        "a COCO json, or images/ + masks/)"
    )
