"""mIoU and per-class IoU from a pixel confusion matrix accumulated at frame resolution."""

from __future__ import annotations

import numpy as np

from edge_runtime.segmentation import IGNORE_INDEX
from train.evaluation import EvalReport


def accumulate(matrix: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> None:
    """Add one frame's pixels to ``matrix`` (rows truth, columns prediction); ignores 255."""
    valid = (truth != IGNORE_INDEX) & (truth < len(matrix))
    np.add.at(matrix, (truth[valid].astype(np.int64), predicted[valid].astype(np.int64)), 1)


def iou_report(matrix: np.ndarray, classes: list[str], images: int) -> EvalReport:
    """Per-class IoU; mIoU averages the classes that occur in the truth or the predictions (the others
    are not measured)."""
    intersection = np.diag(matrix).astype(np.float64)
    union = matrix.sum(0) + matrix.sum(1) - intersection
    present = union > 0
    iou = np.divide(intersection, union, out=np.zeros_like(intersection), where=present)
    per_class = {c: {"iou": float(v)} if p else None for c, v, p in zip(classes, iou, present, strict=True)}
    return EvalReport(
        metric="miou",
        value=float(iou[present].mean()) if present.any() else 0.0,
        samples=images,
        figures={"pixel_accuracy": float(intersection.sum() / max(matrix.sum(), 1))},
        per_class=per_class,
    )
