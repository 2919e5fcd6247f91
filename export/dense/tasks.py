"""Per task: how to rebuild the PyTorch model from a checkpoint, read the data, export and evaluate.

A ``DenseTask`` entry is everything that differs between detection and segmentation; the build
pipeline in ``export.dense.build`` is shared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from edge_runtime.bundle import InputSpec
from edge_runtime.model import BundleModel
from edge_runtime.preprocess import read_image


@dataclass(frozen=True)
class TaskData:
    """The training images (for calibration) and the held-out test samples (for parity and the gate)."""

    train_images: list[Path]
    test_samples: list[Any]
    test_images: list[Path]
    root: Path


@dataclass(frozen=True)
class DenseTask:
    name: str
    metric: str  # the gated metric, e.g. map50 or miou
    output_names: tuple[str, ...]
    dynamic_batch: bool
    build_model: Callable[[dict[str, Any]], nn.Module]  # checkpoint meta -> eval-mode export wrapper
    read_data: Callable[[dict[str, Any], Path | None], TaskData]
    evaluate: Callable[[BundleModel, list[Any]], dict]
    # ignored in INT8: ops that decode boxes or pick detections, whose ranges are not activations
    int8_ignored_types: tuple[str, ...] = ()
    ort_quantize_ops: tuple[str, ...] | None = None


# --- detection ------------------------------------------------------------------------------------


def _detector(meta: dict[str, Any]) -> nn.Module:
    from train.detection.models import DetectorForExport, build_detector

    spec = InputSpec.model_validate(meta["input"])
    detector = build_detector(meta["model"], len(meta["classes"]), spec.size, weights="none", weights_backbone="none")
    detector.load_state_dict(meta["state_dict"])
    return DetectorForExport(detector).eval()


def _detection_data(meta: dict[str, Any], root: Path | None) -> TaskData:
    from train.detection.data import read_detection_split

    data = meta["config"]["data"]
    root = root or Path(data["root"])
    _, train = read_detection_split(root, "train", data["format"], meta["classes"])
    _, test = read_detection_split(root, "test", data["format"], meta["classes"])
    return TaskData([s.path for s in train], test, [s.path for s in test], root)


def _evaluate_detector(model: BundleModel, samples: list[Any]) -> dict:
    from train.detection.metrics import coco_map

    frames = [read_image(s.path) for s in samples]
    predictions = [model.detect(frame, min_score=0.0)[0] for frame in frames]
    return coco_map(samples, predictions, model.manifest.classes, [f.shape[:2] for f in frames])


# --- segmentation ---------------------------------------------------------------------------------


def _segmenter(meta: dict[str, Any]) -> nn.Module:
    from train.segmentation.models import SegmenterForExport, build_segmenter

    segmenter = build_segmenter(meta["model"], len(meta["classes"]), weights="none", weights_backbone="none")
    segmenter.load_state_dict(meta["state_dict"])
    return SegmenterForExport(segmenter).eval()


def _segmentation_data(meta: dict[str, Any], root: Path | None) -> TaskData:
    from train.segmentation.data import read_mask_splits

    config = meta["config"]
    data = config["data"]
    root = root or Path(data["root"])
    splits = read_mask_splits(root, config["seed"], data["val_fraction"], data["test_fraction"])
    return TaskData([s.path for s in splits["train"]], splits["test"], [s.path for s in splits["test"]], root)


def _evaluate_segmenter(model: BundleModel, samples: list[Any]) -> dict:
    from train.segmentation.engine import frame_mask
    from train.segmentation.metrics import accumulate, iou_report

    classes = model.manifest.classes
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for sample in samples:
        frame = read_image(sample.path)
        accumulate(matrix, frame_mask(sample, frame.shape[:2]), model.segment(frame)[0].mask)
    return iou_report(matrix, classes)


TASKS = {
    "detect": DenseTask(
        "detect",
        "map50",
        ("boxes", "scores", "labels"),
        dynamic_batch=False,
        build_model=_detector,
        read_data=_detection_data,
        evaluate=_evaluate_detector,
        int8_ignored_types=(
            "Add", "Multiply", "Subtract", "Divide", "Exp", "Log", "Sqrt", "Power", "Maximum", "Minimum",
            "Concat", "Sigmoid", "SoftMax", "Softmax", "TopK", "NonMaxSuppression", "ROIAlign", "Gather",
        ),
        ort_quantize_ops=("Conv", "MatMul", "Gemm"),
    ),
    "segment": DenseTask(
        "segment",
        "miou",
        ("logits",),
        dynamic_batch=True,
        build_model=_segmenter,
        read_data=_segmentation_data,
        evaluate=_evaluate_segmenter,
    ),
}
