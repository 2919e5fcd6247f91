"""``python -m train doctor DATA``: what is wrong with a data set, before a run is spent on it.

The field's real problems are noisy, incomplete and imbalanced data, and the costliest is a leak:
the same frame in train and test inflates every figure. The doctor finds the layout (class
folders, YOLO/Roboflow with data.yaml, COCO, images + masks), reads every image once and reports
unreadable or truncated files, class counts and imbalance, empty class folders, too-dark and
too-blurred images, exact and near-duplicate images (pHash) within and across splits, and each
layout's label problems (boxes outside the image, empty or tiny boxes, unknown classes, missing
images or masks, masks of the wrong size or with unknown values), and each class's box sizes at
the training input size (``image_size``, ``resize``), warning when too many are small there. ``fix``
moves what can be fixed to a quarantine folder with a log of why; nothing is deleted. Copies that
disagree on their label are all quarantined: the doctor never picks a label.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from train.doctor import checks, sizes
from train.doctor.layouts import find_layout
from train.doctor.report import DoctorConfig, Finding, Report

__all__ = ["DoctorConfig", "Finding", "Report", "default_quarantine", "describe_fix", "examine", "fix"]


def examine(data: Path, config: DoctorConfig | None = None) -> Report:
    """Read ``data`` (a folder, a data.yaml or a COCO json) and report every problem found."""
    config = config or DoctorConfig()
    layout = find_layout(Path(data))
    report = Report(str(layout.root), layout.name, classes=list(layout.classes))
    layout.survey(report)
    readable = []
    for record in layout.records:
        image = checks.decode(report, record, layout.movable)
        if image is None:
            continue
        readable.append(record)
        record.size_hw = (image.shape[0], image.shape[1])
        checks.exposure(report, record, image, config)
        layout.check(report, record, image.shape[:2], config)
    report.images = dict(Counter(r.split for r in layout.records))
    checks.balance(report, config)
    sizes.object_sizes(report, readable, config)
    checks.duplicates(report, readable, config, layout.movable)
    layout.finish(report)
    if not layout.movable and any(f.severity == "error" for f in report.findings):
        report.add(
            "warning",
            "fix_reports_only",
            f"{layout.root}: files are listed in annotation files; --fix "
            "moves nothing (edit the annotation file, then run the doctor again)",
        )
    return report


def default_quarantine(root: Path) -> Path:
    """Beside the data, not inside it: a folder inside would be read as a split or a class."""
    root = Path(root).resolve()
    root = root.parent if root.is_file() else root
    return root.parent / f"{root.name}.quarantine"


def fix(report: Report, quarantine: Path) -> list[Path]:
    """Move every quarantinable file with its label or mask under ``quarantine``, keeping relative paths."""
    root = Path(report.root)
    reasons: dict[str, tuple[str, tuple[str, ...]]] = {}
    for finding in report.findings:
        if finding.quarantine and finding.path and finding.path not in reasons:
            reasons[finding.path] = (f"{finding.check}: {finding.detail}", finding.companions)
    moved: list[Path] = []
    log_lines = []
    for name, (reason, companions) in reasons.items():
        for file in (Path(name), *map(Path, companions)):
            if not file.exists():
                continue
            target = quarantine / _relative(file, root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(file, target)
            moved.append(target)
            log_lines.append(json.dumps({"from": str(file), "to": str(target), "reason": reason}))
    if log_lines:
        with (quarantine / "quarantine.jsonl").open("a") as handle:
            handle.write("\n".join(log_lines) + "\n")
    return moved


def describe_fix(report: Report, moved: list[Path], quarantine: Path) -> str:
    """What ``fix`` did, in words: how many files, and that conflicting copies were all set aside."""
    text = f"moved {len(moved)} file(s) to {quarantine} (reasons in quarantine.jsonl)"
    conflicts = sorted({f.path for f in report.findings if f.check == "conflicting_labels" and f.quarantine})
    if conflicts:
        text += (
            f"; {len(conflicts)} copies of images whose copies disagree on the label were ALL quarantined "
            "(no label was picked): relabel one and move it back"
        )
    return text


def _relative(file: Path, root: Path) -> Path:
    try:
        return file.relative_to(root)
    except ValueError:  # a data.yaml may point outside its folder
        return Path(*file.parts[1:]) if file.is_absolute() else file
