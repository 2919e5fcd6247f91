"""COCO: ``annotations/<split>.json`` (or ``instances_<split>.json``), ``<split>.json``, or Roboflow's
``<split>/_annotations.coco.json``; images under ``images/<split>/``, ``<split>/`` or beside the file.

Every listed image must exist and have the size the file says; every box must have area and stay in
its image; every annotation must name a known image and category. Files are listed in the
annotation file, so ``--fix`` reports but moves nothing (moving one would break the file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from train.data import DataError
from train.doctor.records import SPLIT_ORDER, ImageRecord, images_in
from train.doctor.report import DoctorConfig, Report

ROBOFLOW_NAME = "_annotations.coco.json"


def annotation_files(root: Path) -> dict[str, Path]:
    """split -> its COCO file, in any of the layouts above; empty when the folder holds none."""
    found: dict[str, Path] = {}
    for split in SPLIT_ORDER:
        for candidate in (
            root / "annotations" / f"{split}.json",
            root / "annotations" / f"instances_{split}.json",
            root / f"{split}.json",
            root / split / ROBOFLOW_NAME,
        ):
            if candidate.is_file():
                found[split] = candidate
                break
    if not found and root.is_file() and root.suffix == ".json":
        found["all"] = root
    return found


class Coco:
    name = "coco"
    movable = False

    def __init__(self, root: Path, files: dict[str, Path]) -> None:
        self.root, self.files = (root.parent if root.is_file() else root), files
        self._problems: list[tuple[str, str, Path | None]] = []
        self.records: list[ImageRecord] = []
        self._listed: set[Path] = set()
        names: dict[str, None] = {}
        self._boxes: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._category: dict[str, dict[int, str]] = {}
        for split, file in files.items():
            coco = self._load(file)
            categories = {c["id"]: str(c["name"]) for c in coco.get("categories", [])}
            self._category[split] = categories
            names.update(dict.fromkeys(categories.values()))
            images = {image["id"]: image for image in coco.get("images", [])}
            for ann in coco.get("annotations", []):
                if ann.get("image_id") not in images:
                    self._problems.append(
                        (
                            "annotation_orphan",
                            f"{file}: annotation {ann.get('id')} names image "
                            f"{ann.get('image_id')}, which the file does not list",
                            file,
                        )
                    )
                else:
                    self._boxes.setdefault((split, ann["image_id"]), []).append(ann)
            for image in images.values():
                path = self._image_path(file, split, str(image.get("file_name", "")))
                self._listed.add(path)
                if not path.is_file():
                    self._problems.append(
                        (
                            "missing_image",
                            f"{file}: image {image.get('file_name')!r} (id {image['id']}) not found",
                            path,
                        )
                    )
                    continue
                self.records.append(ImageRecord(path, split, facts={"image": image}))
        self.classes = list(names)

    @staticmethod
    def _load(file: Path) -> dict[str, Any]:
        try:
            coco = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"{file}: not a readable COCO file ({exc})") from exc
        if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
            raise DataError(f"{file}: not a COCO file (no images list)")
        return coco

    def _image_path(self, file: Path, split: str, name: str) -> Path:
        candidates = [
            file.parent / name,
            self.root / "images" / split / name,
            self.root / split / name,
            self.root / "images" / name,
            self.root / name,
        ]
        return next((c for c in candidates if c.is_file()), candidates[0])

    def survey(self, report: Report) -> None:
        report.classes = self.classes
        for check, detail, path in self._problems:
            report.add("error", check, detail, path)

    def check(
        self, report: Report, record: ImageRecord, size_hw: tuple[int, int], config: DoctorConfig
    ) -> None:
        image = record.facts["image"]
        height, width = size_hw
        where = f"{record.path.name} (id {image['id']})"
        if (image.get("height"), image.get("width")) != (height, width):
            report.add(
                "error",
                "size_mismatch",
                f"{where}: the file says {image.get('width')}x{image.get('height')}, "
                f"the image is {width}x{height}",
                record.path,
            )
        categories, found = self._category[record.split], []
        for ann in self._boxes.get((record.split, image["id"]), []):
            name = categories.get(ann.get("category_id"))
            if name is None:
                report.add(
                    "error",
                    "label_unknown_class",
                    f"{where}: annotation {ann.get('id')} has category "
                    f"{ann.get('category_id')}, not among the file's categories",
                    record.path,
                )
                continue
            found.append(name)
            report.count(record.split, name)
            box = self._check_box(
                report, f"{where} annotation {ann.get('id')}", ann.get("bbox"), size_hw, config, record.path
            )
            if box is not None:
                record.boxes.append((name, *box))
        record.label = ",".join(sorted(found))

    @staticmethod
    def _check_box(
        report: Report, where: str, box: Any, size_hw: tuple[int, int], config: DoctorConfig, path: Path
    ) -> tuple[float, float] | None:
        """The box's (width, height) in pixels when it stays in its image; None when it is unusable."""
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int | float) for v in box)):
            report.add(
                "error", "label_malformed", f"{where}: bbox {box!r} is not [x, y, width, height]", path
            )
            return None
        x, y, w, h = box
        height, width = size_hw
        if w < 1 or h < 1:
            report.add("error", "box_empty", f"{where}: bbox {w}x{h} px has no area", path)
            return None
        if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
            report.add("error", "box_outside", f"{where}: bbox {box} leaves the {width}x{height} image", path)
            return None
        if round(min(w, h), 1) < config.tiny_box_px:
            report.add(
                "warning",
                "box_tiny",
                f"{where}: bbox {w}x{h} px, under tiny_box_px={config.tiny_box_px}",
                path,
            )
        return float(w), float(h)

    def finish(self, report: Report) -> None:
        folders = {file.parent for file in self.files.values()} | {self.root / "images"}
        for folder in sorted(folders):
            for path in images_in(folder) if folder != self.root else []:
                if path not in self._listed:
                    report.add(
                        "warning", "unlisted_image", f"{path}: in no annotation file (never trained on)", path
                    )
