"""Checks every layout shares: decoding, exposure, class balance, duplicates within and across splits."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from train.doctor.records import SPLIT_ORDER, ImageRecord
from train.doctor.report import DoctorConfig, Report
from train.phash import groups, near_pairs, phash


def _truncated(data: bytes, suffix: str) -> bool:
    """A JPEG or PNG that starts right but lacks its end marker: a copy cut short, not a bad format."""
    if suffix in (".jpg", ".jpeg"):
        return data.startswith(b"\xff\xd8") and not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if suffix == ".png":
        return data.startswith(b"\x89PNG") and b"IEND" not in data[-16:]
    return False


def decode(report: Report, record: ImageRecord, movable: bool) -> np.ndarray | None:
    """The image, with its digest and pHash set on the record; None (and an error) when it is broken."""
    data = record.path.read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    truncated = _truncated(data, record.path.suffix.lower())
    if image is None or truncated:  # some decoders pad a cut-off image with grey and carry on
        check, why = (
            ("truncated", "file ends before the image does")
            if truncated
            else ("unreadable", "cannot be decoded")
        )
        report.add("error", check, f"{record.path}: {why}", record.path, movable, record.companions)
        return None
    record.digest, record.hash = hashlib.sha256(data).hexdigest(), phash(image)
    return image


def exposure(report: Report, record: ImageRecord, image: np.ndarray, config: DoctorConfig) -> None:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    path = record.path
    if grey.mean() < config.dark_mean:
        report.add("warning", "too_dark", f"{path}: mean grey {grey.mean():.1f} < {config.dark_mean}", path)
        return  # a black frame is also "blurred": one finding is enough
    scale = min(1.0, 256 / max(grey.shape))  # the Laplacian's variance depends on resolution: at most 256 px
    small = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    sharpness = cv2.Laplacian(small, cv2.CV_64F).var()
    if sharpness < config.blur_variance:
        report.add(
            "warning",
            "too_blurred",
            f"{path}: Laplacian variance {sharpness:.1f} < {config.blur_variance}",
            path,
        )


def balance(report: Report, config: DoctorConfig) -> None:
    """Imbalance in the train split, and classes a split has no example of."""
    for name in report.classes:
        for counts in report.class_counts.values():
            counts.setdefault(name, 0)
    reference = report.class_counts.get("train") or report.class_counts.get("all") or {}
    present = {name: n for name, n in reference.items() if n > 0}
    if len(present) > 1:
        report.imbalance_ratio = max(present.values()) / min(present.values())
        if report.imbalance_ratio > config.imbalance_ratio:
            rare = min(present, key=present.__getitem__)
            report.add(
                "warning",
                "imbalance",
                f"largest/smallest class = {report.imbalance_ratio:.1f} "
                f"(rarest: {rare}, {present[rare]}); consider data.balance=sampler or loss",
            )
    for split, counts in report.class_counts.items():
        for name in sorted(name for name, n in counts.items() if n == 0):
            report.add("warning", "missing_class", f"{split}: no examples of class {name!r}")


def duplicates(report: Report, records: list[ImageRecord], config: DoctorConfig, movable: bool) -> None:
    """Exact (sha256) and near (pHash) copies. Copies that disagree on their labels are all quarantined:
    the doctor cannot know which label is right, so it keeps none and says so."""
    rank = {name: i for i, name in enumerate(SPLIT_ORDER)}
    exact: dict[str, list[ImageRecord]] = {}
    for record in records:
        exact.setdefault(record.digest, []).append(record)
    exact_groups = [g for g in exact.values() if len(g) > 1]
    in_exact = {id(r) for g in exact_groups for r in g}
    pairs = near_pairs([r.hash for r in records], config.near_distance)
    near = [[records[i] for i in g] for g in groups(len(records), pairs)]
    for kind, found in (("exact", exact_groups), ("near", near)):
        for group in found:
            if (
                kind == "near"
                and all(id(r) in in_exact for r in group)
                and len({r.digest for r in group}) == 1
            ):
                continue  # already reported as exact copies
            group = sorted(group, key=lambda r: (rank.get(r.split, len(rank)), str(r.path)))
            labels = sorted({r.label for r in group})
            if len(labels) > 1:
                for record in group:
                    others = ", ".join(
                        f"{r.path.name} ({r.label or 'no label'})" for r in group if r is not record
                    )
                    report.add(
                        "error",
                        "conflicting_labels",
                        f"{record.path} ({record.label or 'no label'}) and its {kind} copies {others} "
                        "disagree "
                        "on the label; --fix quarantines every copy",
                        record.path,
                        movable,
                        record.companions,
                    )
                continue
            keep, rest = group[0], group[1:]
            for other in rest:
                if other.split != keep.split:
                    report.add(
                        "error",
                        f"{kind}_duplicate_across_splits",
                        f"{other.path} ({other.split}) duplicates {keep.path} ({keep.split})",
                        other.path,
                        movable,
                        other.companions,
                    )
                else:
                    report.add(
                        "warning",
                        f"{kind}_duplicate_within_split",
                        f"{other.path} duplicates {keep.path}",
                        other.path,
                        movable and kind == "exact",
                        other.companions,
                    )
