"""What the doctor found: findings with a severity, per-split counts, box sizes at the training input
size, and the thresholds it used."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from train.detection.config import DetectDataConfig

Severity = Literal["error", "warning"]


class DoctorConfig(BaseModel):
    """Thresholds, and the input size boxes are judged at; the defaults suit 8-bit mine camera frames and
    the detection recipe."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dark_mean: float = Field(
        20.0, ge=0, le=255, description="mean grey level below which an image is too dark"
    )
    blur_variance: float = Field(
        20.0, ge=0, description="variance of the Laplacian below which an image is too blurred"
    )
    near_distance: int = Field(
        4, ge=0, le=32, description="pHash Hamming distance that counts as a near duplicate"
    )
    imbalance_ratio: float = Field(
        10.0, ge=1, description="largest/smallest class count above which imbalance is flagged"
    )
    tiny_box_px: float = Field(
        4.0,
        ge=0,
        description="a box narrower or lower than this (image pixels) is flagged: too small to learn",
    )
    # the input size and resize of `adit train`'s detection recipe, so box sizes are judged as trained
    image_size: tuple[PositiveInt, PositiveInt] = Field(
        DetectDataConfig.model_fields["image_size"].default,
        description="detection input (height, width) the boxes are judged at, as train's data.image_size; "
        "N means N x N",
    )
    resize: Literal["stretch", "letterbox"] = Field(
        DetectDataConfig.model_fields["resize"].default,
        description="how training resizes a photo to image_size (train's data.resize)",
    )
    small_box_px: float = Field(
        16.0,
        ge=0,
        description="a box whose short side at image_size is under this is small: 16 px is 2 strides of the "
        "detector's finest feature level (8 px), below which objects are found poorly",
    )
    small_box_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="share of a class's boxes under small_box_px above which it warns (small_objects)",
    )
    max_image_size: int = Field(
        1024,
        ge=32,
        description="largest image_size the doctor suggests for small objects; beyond it, it suggests tiling "
        "(cost grows with the square of the size)",
    )

    @field_validator("image_size", mode="before")
    @classmethod
    def _square(cls, value: object) -> object:
        """``image_size=416`` means 416 x 416, as ``adit train imgsz=416`` does."""
        return (value, value) if isinstance(value, int) else value


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    detail: str
    path: str | None = None
    quarantine: bool = False  # ``fix`` moves ``path`` and its companions to the quarantine folder
    companions: tuple[str, ...] = ()  # the image's label file or mask


@dataclass(frozen=True)
class ClassSizes:
    """One class's boxes by their short side (the smaller of width and height)."""

    boxes: int
    median_photo_px: float  # in the photo's pixels
    median_input_px: float  # at image_size, resized as training does
    small_share: float  # share under small_box_px at image_size
    suggested_size: tuple[int, int]  # smallest image_size (multiples of 32) where it is <= small_box_share


@dataclass(frozen=True)
class ObjectSizes:
    """Box sizes at the training input size, per class; what ``small_objects`` warnings are judged on."""

    image_size: tuple[int, int]
    resize: str
    small_box_px: float
    small_box_share: float
    classes: dict[str, ClassSizes]

    def table(self) -> list[str]:
        height, width = self.image_size
        lines = [
            f"  box short side at image_size {height}x{width} ({self.resize}); "
            f"small: under {self.small_box_px:g} px",
            f"    {'class':<16} {'boxes':>6} {'median photo':>13} {'median input':>13} {'small':>6}  "
            f"image_size for <={self.small_box_share:.0%} small",
        ]
        for name, sizes in self.classes.items():
            lines.append(
                f"    {name:<16} {sizes.boxes:>6} {sizes.median_photo_px:>10.1f} px "
                f"{sizes.median_input_px:>10.1f} px {sizes.small_share:>6.0%}  "
                f"{sizes.suggested_size[0]}x{sizes.suggested_size[1]}"
            )
        return lines


@dataclass
class Report:
    root: str
    layout: str
    classes: list[str] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> images or boxes
    imbalance_ratio: float | None = None
    object_sizes: ObjectSizes | None = None  # detection layouts only
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def add(
        self,
        severity: Severity,
        check: str,
        detail: str,
        path: Path | None = None,
        quarantine: bool = False,
        companions: tuple[Path, ...] = (),
    ) -> None:
        self.findings.append(
            Finding(
                severity, check, detail, str(path) if path else None, quarantine, tuple(map(str, companions))
            )
        )

    def count(self, split: str, name: str, n: int = 1) -> None:
        counts = self.class_counts.setdefault(split, {})
        counts[name] = counts.get(name, 0) + n

    def to_json(self) -> str:
        return json.dumps(asdict(self) | {"errors": len(self.errors)}, indent=2)

    def summary(self) -> str:
        lines = [
            f"{self.root} ({self.layout}): " + ", ".join(f"{split} {n}" for split, n in self.images.items())
        ]
        if self.classes:
            lines.append(f"  classes: {', '.join(self.classes)}")
        for split, counts in self.class_counts.items():
            lines.append(f"  {split}: " + ", ".join(f"{name} {n}" for name, n in sorted(counts.items())))
        if self.imbalance_ratio is not None:
            lines.append(f"  imbalance ratio (largest/smallest train class): {self.imbalance_ratio:.1f}")
        if self.object_sizes is not None:
            lines += self.object_sizes.table()
        by_check = Counter((f.severity, f.check) for f in self.findings)
        for (severity, check), count in sorted(by_check.items()):
            lines.append(f"{severity.upper():7s} {check}: {count}")
            for finding in [f for f in self.findings if f.check == check][:5]:
                lines.append(f"          {finding.detail}")
        lines.append(f"{len(self.errors)} error(s), {len(self.findings) - len(self.errors)} warning(s)")
        return "\n".join(lines)
