"""COCO mAP@0.5 and mAP@0.5:0.95, overall and per class, with pycocotools.

Ground truth and predictions are both in frame pixels: predictions come out of
``edge_runtime.detection.decode_boxes``, so the figures are the device's.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence

import numpy as np

from edge_runtime.detection import PixelDetection
from train.detection.data import BoxSample
from train.evaluation import EvalReport


def coco_map(
    samples: Sequence[BoxSample],
    predictions: Sequence[list[PixelDetection]],
    classes: list[str],
    frame_sizes: Sequence[tuple[int, int]],
    score_threshold: float = 0.5,
) -> EvalReport:
    """``map50``, ``map`` (0.5:0.95), per-class AP, and per-class ``recall``: the share of a class's
    boxes found at IoU 0.5 by detections scoring at least ``score_threshold`` (what the device's
    score filter lets through). A class absent from the truth is not measured."""
    images, annotations, results = [], [], []
    for image_id, (sample, dets, (height, width)) in enumerate(
        zip(samples, predictions, frame_sizes, strict=True)
    ):
        images.append({"id": image_id, "width": width, "height": height})
        for box, label in zip(sample.boxes, sample.labels, strict=True):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label),
                    "bbox": [float(box[0]), float(box[1]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for det in dets:
            x1, y1, x2, y2 = det.box
            results.append(
                {
                    "image_id": image_id,
                    "category_id": det.index,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": det.score,
                }
            )
    counts = {"boxes": float(len(annotations)), "detections": float(len(results))}
    present = sorted({a["category_id"] for a in annotations})
    per_class: dict[str, dict[str, float] | None] = {name: None for name in classes}
    if not annotations or not results:
        per_class |= {classes[i]: {"ap50": 0.0, "ap": 0.0, "recall": 0.0} for i in present}
        return EvalReport(
            metric="map50",
            value=0.0,
            samples=len(images),
            figures={"map": 0.0, **counts},
            per_class=per_class,
        )
    categories = [{"id": i, "name": n} for i, n in enumerate(classes)]
    evaluation = _cocoeval({"images": images, "annotations": annotations, "categories": categories}, results)
    kept = [r for r in results if r["score"] >= score_threshold]
    recall = (
        _cocoeval({"images": images, "annotations": annotations, "categories": categories}, kept).eval[
            "recall"
        ][0, :, 0, -1]  # IoU 0.5, per class, all areas, 100 detections
        if kept
        else np.zeros(len(classes))
    )
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # IoU x recall x class, all areas, 100 dets
    for index in present:
        per_iou = precision[:, :, index]
        per_iou = np.where(per_iou < 0, np.nan, per_iou)
        per_class[classes[index]] = {
            "ap50": float(np.nanmean(per_iou[0])),
            "ap": float(np.nanmean(per_iou)),
            "recall": float(max(recall[index], 0.0)),
        }
    figures = {"map": float(evaluation.stats[0]), **counts}
    return EvalReport(
        metric="map50",
        value=float(evaluation.stats[1]),
        samples=len(images),
        figures=figures,
        per_class=per_class,
    )


def _cocoeval(dataset: dict, results: list[dict]):
    """pycocotools' evaluation of ``results`` against ``dataset``, accumulated (its tables silenced)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation
