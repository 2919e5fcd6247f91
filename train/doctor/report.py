"""What the doctor found: findings with a severity, per-split counts, and the thresholds it used."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["error", "warning"]


class DoctorConfig(BaseModel):
    """Thresholds; the defaults suit 8-bit mine camera frames."""

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


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    detail: str
    path: str | None = None
    quarantine: bool = False  # ``fix`` moves ``path`` and its companions to the quarantine folder
    companions: tuple[str, ...] = ()  # the image's label file or mask


@dataclass
class Report:
    root: str
    layout: str
    classes: list[str] = field(default_factory=list)
    images: dict[str, int] = field(default_factory=dict)
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> images or boxes
    imbalance_ratio: float | None = None
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
        by_check = Counter((f.severity, f.check) for f in self.findings)
        for (severity, check), count in sorted(by_check.items()):
            lines.append(f"{severity.upper():7s} {check}: {count}")
            for finding in [f for f in self.findings if f.check == check][:5]:
                lines.append(f"          {finding.detail}")
        lines.append(f"{len(self.errors)} error(s), {len(self.findings) - len(self.errors)} warning(s)")
        return "\n".join(lines)
