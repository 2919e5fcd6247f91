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


def coco_map(samples: Sequence[BoxSample], predictions: Sequence[list[PixelDetection]], classes: list[str], frame_sizes: Sequence[tuple[int, int]]) -> dict:
    """``map50``, ``map`` (0.5:0.95) and per-class AP; classes absent from the ground truth are left out."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images, annotations, results = [], [], []
    for image_id, (sample, dets, (height, width)) in enumerate(zip(samples, predictions, frame_sizes, strict=True)):
        images.append({"id": image_id, "width": width, "height": height})
        for box, label in zip(sample.boxes, sample.labels, strict=True):
            w, h = float(box[2] - box[0]), float(box[3] - box[1])
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": int(label), "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h, "iscrowd": 0})
        for det in dets:
            x1, y1, x2, y2 = det.box
            results.append({"image_id": image_id, "category_id": det.index, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": det.score})
    report = {"map50": 0.0, "map": 0.0, "images": len(images), "boxes": len(annotations), "detections": len(results), "per_class": {}}
    if not annotations or not results:
        return report
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its tables
        truth = COCO()
        truth.dataset = {"images": images, "annotations": annotations, "categories": [{"id": i, "name": n} for i, n in enumerate(classes)]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # IoU x recall x class, all areas, 100 dets
    present = sorted({a["category_id"] for a in annotations})
    for index in present:
        per_iou = precision[:, :, index]
        per_iou = np.where(per_iou < 0, np.nan, per_iou)
        report["per_class"][classes[index]] = {"ap50": float(np.nanmean(per_iou[0])), "ap": float(np.nanmean(per_iou))}
    report["map"], report["map50"] = float(evaluation.stats[0]), float(evaluation.stats[1])
    return report
