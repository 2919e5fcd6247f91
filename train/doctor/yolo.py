"""YOLO labels: Ultralytics/Roboflow ``<split>/images`` + ``<split>/labels`` with ``data.yaml``, or
``images/<split>`` + ``labels/<split>``. Rows are ``class cx cy w h`` normalised to the image (or a
polygon ``class x1 y1 x2 y2 ...``, whose bounding box is checked); a missing label file is background.
Class names come from data.yaml's ``names``; without it the ids are the names.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from train.data import DataError
from train.doctor.records import SPLIT_ORDER, ImageRecord, images_in
from train.doctor.report import DoctorConfig, Report

YAML_SPLITS = ("train", "val", "test")


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``images`` folder of the path becomes ``labels``, the suffix ``.txt``."""
    parts = list(image.parts)
    index = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:index], "labels", *parts[index + 1 :]).with_suffix(".txt")


class Yolo:
    name = "yolo"
    movable = True

    def __init__(self, root: Path, data_yaml: Path | None) -> None:
        self.root, self.data_yaml = root, data_yaml
        self._problems: list[tuple[str, str]] = []
        self.classes: list[str] = []
        folders = self._from_yaml(data_yaml) if data_yaml is not None else self._from_folders(root)
        self.records = [
            ImageRecord(p, split, companions=(label_path(p),))
            for split, folder in folders
            for p in images_in(folder)
        ]
        self._label_dirs = {label_path(folder / "x.jpg").parent for _, folder in folders}

    def _from_yaml(self, data_yaml: Path) -> list[tuple[str, Path]]:
        try:
            spec = yaml.safe_load(data_yaml.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"{data_yaml}: not readable YAML ({exc})") from exc
        if not isinstance(spec, dict):
            raise DataError(f"{data_yaml}: expected a mapping with names and train/val/test folders")
        names = spec.get("names", [])
        self.classes = (
            [str(names[k]) for k in sorted(names)] if isinstance(names, dict) else [str(n) for n in names]
        )
        if not self.classes:
            self._problems.append(
                ("data_yaml", f"{data_yaml}: no class names (names:); ids are used instead")
            )
        if "nc" in spec and spec["nc"] != len(self.classes):
            self._problems.append(
                ("data_yaml", f"{data_yaml}: nc is {spec['nc']} but names lists {len(self.classes)}")
            )
        base = data_yaml.parent
        if isinstance(spec.get("path"), str):
            given = Path(spec["path"])
            candidate = given if given.is_absolute() else data_yaml.parent / given
            base = candidate if candidate.is_dir() else base  # an export's absolute path from another machine
        folders = []
        for split in YAML_SPLITS:
            entries = spec.get(split)
            for entry in [entries] if isinstance(entries, str) else entries or []:
                folder = base / entry
                if not folder.is_dir():  # Roboflow writes ../train/images and means <root>/train/images
                    inside = base / Path(*[part for part in Path(entry).parts if part != ".."])
                    folder = inside if inside.is_dir() else folder
                if folder.is_dir():
                    folders.append((split, folder))
                else:
                    self._problems.append(
                        ("missing_split", f"{data_yaml}: {split} folder {entry!r} not found")
                    )
        if not folders:
            raise DataError(f"{data_yaml}: none of its train/val/test image folders exist")
        return folders

    def _from_folders(self, root: Path) -> list[tuple[str, Path]]:
        if (root / "images").is_dir():
            nested = sorted(p for p in (root / "images").iterdir() if p.is_dir())
            return [(p.name, p) for p in nested] or [("all", root / "images")]
        return [(s, root / s / "images") for s in SPLIT_ORDER if (root / s / "images").is_dir()]

    def survey(self, report: Report) -> None:
        report.classes = self.classes
        for check, detail in self._problems:
            report.add("error", check, detail, self.data_yaml)

    def check(
        self, report: Report, record: ImageRecord, size_hw: tuple[int, int], config: DoctorConfig
    ) -> None:
        label = record.companions[0]
        if not label.is_file():
            report.add(
                "warning",
                "no_label_file",
                f"{record.path}: no {label.name} (treated as background)",
                record.path,
            )
            return
        found = []
        for number, line in enumerate(label.read_text(errors="replace").splitlines(), start=1):
            if line.strip():
                name = self._row(report, f"{label}:{number}", line, record, size_hw, config)
                if name is not None:
                    found.append(name)
                    report.count(record.split, name)
        record.label = ",".join(sorted(found))

    def _row(
        self,
        report: Report,
        where: str,
        line: str,
        record: ImageRecord,
        size_hw: tuple[int, int],
        config: DoctorConfig,
    ) -> str | None:
        """Check one row; the class name it counts, or None when the row is unusable. A box that stays in
        its image joins the record's boxes, whose sizes the doctor judges at the training input size."""
        label = record.companions[0]
        try:
            values = [float(v) for v in line.split()]
        except ValueError:
            values = []
        if len(values) < 5 or (len(values) > 5 and len(values) % 2 == 0):
            report.add(
                "error",
                "label_malformed",
                f"{where}: expected 'class cx cy w h' or a polygon, got {line!r}",
                label,
            )
            return None
        cls = values[0]
        if cls < 0 or cls != int(cls):
            report.add(
                "error", "label_malformed", f"{where}: class {cls} is not a non-negative integer", label
            )
            return None
        if self.classes and int(cls) >= len(self.classes):
            report.add(
                "error",
                "label_unknown_class",
                f"{where}: class {int(cls)}, but data.yaml names {len(self.classes)} "
                f"(0..{len(self.classes) - 1})",
                label,
            )
            return None
        name = self.classes[int(cls)] if self.classes else str(int(cls))
        if len(values) == 5:
            cx, cy, w, h = values[1:]
        else:  # a polygon: its bounding box
            xs, ys = values[1::2], values[2::2]
            cx, cy, w, h = (
                (min(xs) + max(xs)) / 2,
                (min(ys) + max(ys)) / 2,
                max(xs) - min(xs),
                max(ys) - min(ys),
            )
        height, width = size_hw
        if w * width < 1 or h * height < 1:
            report.add("error", "box_empty", f"{where}: box {w:.4f}x{h:.4f} is under one pixel", label)
        elif min(cx - w / 2, cy - h / 2) < -1e-3 or max(cx + w / 2, cy + h / 2) > 1 + 1e-3:
            report.add(
                "error",
                "box_outside",
                f"{where}: box ({cx:.3f}, {cy:.3f}, {w:.3f}, {h:.3f}) leaves the image",
                label,
            )
        else:
            if round(min(w * width, h * height), 1) < config.tiny_box_px:
                report.add(
                    "warning",
                    "box_tiny",
                    f"{where}: box {w * width:.1f}x{h * height:.1f} px, "
                    f"under tiny_box_px={config.tiny_box_px}",
                    label,
                )
            record.boxes.append((name, w * width, h * height))
        return name

    def finish(self, report: Report) -> None:
        expected = {r.companions[0] for r in self.records}
        for folder in sorted(self._label_dirs):
            for label in sorted(folder.rglob("*.txt")) if folder.is_dir() else []:
                if label not in expected and label.name != "classes.txt":
                    report.add("warning", "orphan_label", f"{label}: no image with this name", label)


def find_data_yaml(path: Path) -> Path | None:
    """``path`` itself when it is a YAML file, else a data.yaml/data.yml inside it."""
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return path
    return next((p for p in (path / "data.yaml", path / "data.yml") if p.is_file()), None)


def is_yolo(root: Path) -> bool:
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return True
    return any((root / s / "images").is_dir() and (root / s / "labels").is_dir() for s in SPLIT_ORDER)
