"""``python -m train doctor DATA``: what is wrong with a data set, before a run is spent on it.

The field's real problems are noisy, incomplete and imbalanced data, and the costliest is a leak:
the same frame in train and test inflates every figure. The doctor reads every image once and
reports unreadable or truncated files, class counts and imbalance, too-dark and too-blurred
images, exact and near-duplicate images (pHash) within and across splits, and for YOLO label
folders boxes outside the image, empty boxes and malformed lines. ``fix`` moves what can be
fixed (corrupt files, the val/test copies of cross-split duplicates, extra exact copies within a
split) to a quarantine folder with a log of why; nothing is deleted.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from train.data import IMAGE_SUFFIXES, DataError
from train.phash import groups, near_pairs, phash

SPLIT_ORDER = ("train", "val", "valid", "validation", "test")  # earlier splits keep a duplicated image
Severity = Literal["error", "warning"]


class DoctorConfig(BaseModel):
    """Thresholds; the defaults suit 8-bit mine camera frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dark_mean: float = Field(20.0, ge=0, le=255, description="mean grey level below which an image is too dark")
    blur_variance: float = Field(20.0, ge=0, description="variance of the Laplacian below which an image is too blurred")
    near_distance: int = Field(4, ge=0, le=32, description="pHash Hamming distance that counts as a near duplicate")
    imbalance_ratio: float = Field(10.0, ge=1, description="largest/smallest class count above which imbalance is flagged")


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    detail: str
    path: str | None = None
    quarantine: bool = False  # ``fix`` moves ``path`` (and its label file) to the quarantine folder


@dataclass
class ImageRecord:
    path: Path
    split: str
    label: str  # class folder name, or "" for YOLO images
    digest: str = ""
    hash: int | None = None


@dataclass
class Report:
    root: str
    layout: str
    images: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    imbalance_ratio: float | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def add(self, severity: Severity, check: str, detail: str, path: Path | None = None, quarantine: bool = False) -> None:
        self.findings.append(Finding(severity, check, detail, str(path) if path else None, quarantine))

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"errors": len(self.errors)}, indent=2)

    def summary(self) -> str:
        lines = [f"{self.root} ({self.layout}): " + ", ".join(f"{split} {n}" for split, n in self.images.items())]
        for split, counts in self.class_counts.items():
            lines.append(f"  {split}: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())))
        if self.imbalance_ratio is not None:
            lines.append(f"  imbalance ratio (largest/smallest train class): {self.imbalance_ratio:.1f}")
        by_check = Counter((f.severity, f.check) for f in self.findings)
        for (severity, check), count in sorted(by_check.items()):
            lines.append(f"{severity.upper():7s} {check}: {count}")
            for finding in [f for f in self.findings if f.check == check][:5]:
                lines.append(f"          {finding.detail}")
        lines.append(f"{len(self.errors)} error(s), {len(self.findings) - len(self.errors)} warning(s)")
        return "\n".join(lines)


def list_images(root: Path) -> tuple[str, list[ImageRecord]]:
    """Class folders (``<split>/<class>/<image>`` or ``<class>/<image>``) or YOLO (``images/<split>/``)."""
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    if (root / "images").is_dir() and (root / "labels").is_dir():
        splits = sorted(p for p in (root / "images").iterdir() if p.is_dir())
        return "yolo", [ImageRecord(p, s.name, "") for s in splits for p in sorted(s.rglob("*")) if _is_image(p)]
    split_dirs = [root / s for s in SPLIT_ORDER if (root / s).is_dir()]
    if split_dirs:
        return "class-folders", [
            ImageRecord(p, s.name, c.name) for s in split_dirs for c in sorted(s.iterdir()) if c.is_dir() for p in sorted(c.iterdir()) if _is_image(p)
        ]
    return "class-folders", [ImageRecord(p, "all", c.name) for c in sorted(root.iterdir()) if c.is_dir() for p in sorted(c.iterdir()) if _is_image(p)]


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def _truncated(data: bytes, suffix: str) -> bool:
    """A JPEG or PNG that starts right but lacks its end marker: a copy cut short, not a bad format."""
    if suffix in (".jpg", ".jpeg"):
        return data.startswith(b"\xff\xd8") and not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if suffix == ".png":
        return data.startswith(b"\x89PNG") and b"IEND" not in data[-16:]
    return False


def examine(root: Path, config: DoctorConfig = DoctorConfig()) -> Report:
    layout, records = list_images(root)
    report = Report(str(root), layout)
    if not records:
        raise DataError(f"{root}: no images found (expected <split>/<class>/<image>, <class>/<image> or images/<split>/)")
    readable: list[ImageRecord] = []
    for record in records:
        data = record.path.read_bytes()
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        truncated = _truncated(data, record.path.suffix.lower())
        if image is None or truncated:  # some decoders pad a cut-off image with grey and carry on
            check, why = ("truncated", "file ends before the image does") if truncated else ("unreadable", "cannot be decoded")
            report.add("error", check, f"{record.path}: {why}", record.path, quarantine=True)
            continue
        record.digest, record.hash = hashlib.sha256(data).hexdigest(), phash(image)
        readable.append(record)
        _check_exposure(report, record.path, image, config)
        if layout == "yolo":
            _check_labels(report, root, record, image.shape[:2])
    report.images = dict(Counter(r.split for r in records))
    _check_classes(report, root, layout, readable, config)
    _check_duplicates(report, readable, config)
    if layout == "yolo":
        _check_orphan_labels(report, root, records)
    return report


def _check_exposure(report: Report, path: Path, image: np.ndarray, config: DoctorConfig) -> None:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if grey.mean() < config.dark_mean:
        report.add("warning", "too_dark", f"{path}: mean grey {grey.mean():.1f} < {config.dark_mean}", path)
        return  # a black frame is also "blurred": one finding is enough
    scale = min(1.0, 256 / max(grey.shape))  # the Laplacian's variance depends on resolution: measure at most 256 px
    sharpness = cv2.Laplacian(cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), cv2.CV_64F).var()
    if sharpness < config.blur_variance:
        report.add("warning", "too_blurred", f"{path}: Laplacian variance {sharpness:.1f} < {config.blur_variance}", path)


def _label_path(root: Path, record: ImageRecord) -> Path:
    relative = record.path.relative_to(root / "images" / record.split)
    return (root / "labels" / record.split / relative).with_suffix(".txt")


def _check_labels(report: Report, root: Path, record: ImageRecord, shape: tuple[int, int]) -> None:
    """YOLO rows ``class cx cy w h``, normalised to the image; a missing file means no objects."""
    label = _label_path(root, record)
    if not label.is_file():
        report.add("warning", "no_label_file", f"{record.path}: no {label.name} (treated as background)", record.path)
        return
    counts = report.class_counts.setdefault(record.split, {})
    for number, line in enumerate(label.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{label}:{number}"
        try:
            cls, cx, cy, w, h = (float(v) for v in line.split())
        except ValueError:
            report.add("error", "label_malformed", f"{where}: expected 'class cx cy w h', got {line!r}", label)
            continue
        if cls < 0 or cls != int(cls):
            report.add("error", "label_malformed", f"{where}: class {cls} is not a non-negative integer", label)
            continue
        counts[str(int(cls))] = counts.get(str(int(cls)), 0) + 1
        if w * shape[1] < 1 or h * shape[0] < 1:
            report.add("error", "box_empty", f"{where}: box {w:.4f}x{h:.4f} is under one pixel", label)
        elif min(cx - w / 2, cy - h / 2) < -1e-3 or max(cx + w / 2, cy + h / 2) > 1 + 1e-3:
            report.add("error", "box_outside", f"{where}: box ({cx:.3f}, {cy:.3f}, {w:.3f}, {h:.3f}) leaves the image", label)


def _check_orphan_labels(report: Report, root: Path, records: list[ImageRecord]) -> None:
    expected = {_label_path(root, r) for r in records}
    for label in sorted((root / "labels").rglob("*.txt")):
        if label not in expected:
            report.add("warning", "orphan_label", f"{label}: no image with this name", label)


def _check_classes(report: Report, root: Path, layout: str, records: list[ImageRecord], config: DoctorConfig) -> None:
    if layout == "class-folders":
        for record in records:
            counts = report.class_counts.setdefault(record.split, {})
            counts[record.label] = counts.get(record.label, 0) + 1
    reference = report.class_counts.get("train") or report.class_counts.get("all") or {}
    if not reference:
        return
    report.imbalance_ratio = max(reference.values()) / min(reference.values())
    if report.imbalance_ratio > config.imbalance_ratio:
        rare = min(reference, key=reference.get)
        report.add("warning", "imbalance", f"largest/smallest class = {report.imbalance_ratio:.1f} (rarest: {rare}, {reference[rare]}); "
                   "consider data.balance=sampler or loss")
    for split, counts in report.class_counts.items():
        for name in sorted(set(reference) - set(counts)):
            report.add("warning", "missing_class", f"{split}: no examples of class {name!r}")


def _check_duplicates(report: Report, records: list[ImageRecord], config: DoctorConfig) -> None:
    rank = {name: i for i, name in enumerate(SPLIT_ORDER)}
    exact: dict[str, list[ImageRecord]] = {}
    for record in records:
        exact.setdefault(record.digest, []).append(record)
    exact_groups = [g for g in exact.values() if len(g) > 1]
    in_exact = {id(r) for g in exact_groups for r in g}
    near = [[records[i] for i in g] for g in groups(len(records), near_pairs([r.hash for r in records], config.near_distance))]
    for kind, found in (("exact", exact_groups), ("near", near)):
        for group in found:
            if kind == "near" and all(id(r) in in_exact for r in group) and len({r.digest for r in group}) == 1:
                continue  # already reported as exact copies
            group = sorted(group, key=lambda r: (rank.get(r.split, len(rank)), str(r.path)))
            keep, rest = group[0], group[1:]
            names = ", ".join(str(r.path) for r in group)
            labels = {r.label for r in group}
            if len(labels) > 1:
                report.add("error", "conflicting_labels", f"{kind} duplicates with labels {sorted(labels)}: {names}", keep.path)
            for other in rest:
                if other.split != keep.split:
                    report.add("error", f"{kind}_duplicate_across_splits",
                               f"{other.path} ({other.split}) duplicates {keep.path} ({keep.split})", other.path, quarantine=True)
                else:
                    report.add("warning", f"{kind}_duplicate_within_split", f"{other.path} duplicates {keep.path}",
                               other.path, quarantine=kind == "exact")


def default_quarantine(root: Path) -> Path:
    """Beside the data, not inside it: a folder inside would be read as a split or a class."""
    return root.resolve().parent / f"{root.resolve().name}.quarantine"


def fix(report: Report, quarantine: Path) -> list[Path]:
    """Move every quarantinable file (with its YOLO label) under ``quarantine``, keeping relative paths."""
    root = Path(report.root)
    moved: list[Path] = []
    reasons: dict[str, str] = {}
    for finding in report.findings:
        if finding.quarantine and finding.path and finding.path not in reasons:
            reasons[finding.path] = f"{finding.check}: {finding.detail}"
    log_lines = []
    for name, reason in reasons.items():
        path = Path(name)
        companions = [path]
        if report.layout == "yolo" and path.suffix != ".txt":
            split = path.relative_to(root / "images").parts[0]
            companions.append(_label_path(root, ImageRecord(path, split, "")))
        for file in companions:
            if not file.exists():
                continue
            target = quarantine / file.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(file, target)
            moved.append(target)
            log_lines.append(json.dumps({"from": str(file), "to": str(target), "reason": reason}))
    if log_lines:
        with (quarantine / "quarantine.jsonl").open("a") as handle:
            handle.write("\n".join(log_lines) + "\n")
    return moved
