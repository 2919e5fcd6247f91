"""Object detection: YOLO, COCO or VOC in; boxes per frame out (``boxes``), NMS inside the graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from edge_runtime.bundle import InputSpec, ModelInterface
from edge_runtime.errors import ConfigError
from edge_runtime.model import Predictor
from edge_runtime.postprocess_spec import DEFAULT_SCORE_THRESHOLD, BoxesPost
from train.data import LoadItem, files_entries, fingerprint, readable
from train.detection.balance import repeat_factors
from train.detection.config import DetectTrainConfig
from train.detection.data import BoxLoader, BoxSample, read_detection_split, read_yolo_names
from train.detection.metrics import coco_map
from train.detection.shape_safe import shape_safe
from train.evaluation import EvalReport
from train.models import BuiltModel, ModelRequest
from train.task import Batch, GateDefaults, LossFn, TaskData, register_task
from train.tasks.base import ImageTask


class DetectorForExport(nn.Module):
    """Batch-1 images tensor -> (boxes xyxy in input pixels, scores, labels 0..K-1), NMS inside.

    The ONNX and OpenVINO artifacts have this signature; ``edge_runtime.detection`` decodes it.
    FCOS and RetinaNet run with a candidate on every pyramid level (``shape_safe``): an empty level
    crashed ONNX Runtime; the detections are the detector's own.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = shape_safe(detector)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        result = self.detector([images[0]])[0]
        return result["boxes"], result["scores"], result["labels"] - 1


@register_task
class Detect(ImageTask):
    name = "detect"
    config_type = DetectTrainConfig
    family = "detect"
    metric = "map50"
    class_figure = "ap50"
    # mAP@0.5 and every class's AP against true FP32; person and no-helmet (where the model has them)
    # also keep their recall at the device's score filter: a person missed is the failure that matters.
    # The floor: a 2.3 % mAP@0.5 detector once shipped because only INT8 against FP32 was gated.
    gate = GateDefaults(
        max_drop_pp=1.0,
        max_class_drop_pp=1.0,
        max_per_class_drop_pp=5.0,
        safety_classes=("person", "no-helmet"),
        safety_figures=("recall",),
        floor_absolute=0.30,
    )
    output_names = ("boxes", "scores", "labels")
    dynamic_batch = False  # torchvision's detectors loop over images: exported for one frame
    drop_last = True  # BatchNorm cannot train on a last batch of one
    min_agreement = 0.95
    parity_atol = None  # boxes that flip in or out near the score floor have nothing to compare against
    ort_quantize_ops = ("Conv", "MatMul", "Gemm")
    # Box decoding, score sigmoids and NMS are arithmetic on coordinates, not activations: quantizing
    # them ruins boxes, so NNCF keeps these op types in floating point.
    int8_ignored_types = (
        "Add", "Multiply", "Subtract", "Divide", "Exp", "Log", "Sqrt", "Power", "Maximum", "Minimum",
        "Concat", "Sigmoid", "SoftMax", "Softmax", "TopK", "NonMaxSuppression", "ROIAlign", "Gather",
    )  # fmt: skip

    def read_data(self, config: DetectTrainConfig, root: Path | None = None) -> TaskData:
        data = config.data
        root = root or data.root
        classes, train = read_detection_split(root, "train", data.format, data.classes)
        val = read_detection_split(root, "val", data.format, classes)[1]
        test = read_detection_split(root, "test", data.format, classes)[1]
        entries = files_entries([s.path for s in train + val + test])
        return TaskData(classes, train, val, test, fingerprint(entries), str(root))

    def read_labelled(self, folder: Path, classes: list[str]) -> list[BoxSample]:
        """The labelling import's YOLO (``data.yaml``, ``images/``, ``labels/``) or one COCO instances file
        (``annotations/*.json`` or ``*.json``, images beside it or in ``images/``), in the model's classes."""
        folder = Path(folder)
        if (folder / "data.yaml").is_file():
            names = read_yolo_names(folder / "data.yaml")
            if names != classes:
                raise ConfigError(
                    f"site.data: {folder}/data.yaml names {names}; the model's classes are {classes}"
                )
            return read_detection_split(folder, "train", "yolo", classes)[1]
        found = sorted({*folder.glob("*.json"), *folder.glob("annotations/*.json")})
        if len(found) != 1:
            raise ConfigError(
                f"site.data: {folder} holds neither data.yaml (YOLO) nor one COCO JSON (found {len(found)})"
            )
        return read_detection_split(folder, found[0].stem, "coco", classes)[1]

    def item_loader(self, spec: InputSpec, augment: Any, samples: Sequence[Any]) -> LoadItem:
        return BoxLoader(spec, augment, samples)

    def sample_weights(self, config: DetectTrainConfig, data: TaskData) -> list[float] | None:
        """Repeat-factor sampling: images holding a rare class come back more often."""
        if config.data.balance == 0:
            return None
        factors = repeat_factors([s.labels for s in data.train], len(data.classes), config.data.balance)
        return factors.tolist()

    def collate(self, items: list[Any]) -> Batch:
        """Images stacked (all are the input size), targets a list: each frame has its own box count."""
        kept = [item for item in items if item is not None]
        if not kept:
            return torch.empty(0), [], len(items)
        return torch.stack([x for x, _ in kept]), [t for _, t in kept], len(items) - len(kept)

    def model_request(self, config: DetectTrainConfig, data: TaskData) -> ModelRequest:
        model = config.model
        options = (
            {}
            if model.trainable_backbone_layers is None
            else {"trainable_backbone_layers": model.trainable_backbone_layers}
        )
        return ModelRequest(
            len(data.classes), model.weights, model.weights_backbone, config.data.image_size, options
        )

    def interface(self, config: DetectTrainConfig, data: TaskData, built: BuiltModel) -> ModelInterface:
        spec = self.input_spec(config, built)
        post = BoxesPost(score_threshold=config.model.score_threshold)
        return ModelInterface(task=self.name, classes=data.classes, input=spec, postprocess=post)

    def loss_fn(self, config: DetectTrainConfig, data: TaskData, device: torch.device) -> LossFn:
        return lambda model, images, targets: sum(model(list(images), targets).values())

    def export_module(self, model: nn.Module) -> nn.Module:
        return DetectorForExport(model)

    def measure(self, predictor: Predictor, samples: Sequence[BoxSample]) -> list[Any]:
        """Every detection the graph returns (no score filter: mAP ranks them), the frame size, and the
        device's score filter (recall is counted at it)."""
        post = predictor.interface.postprocess
        threshold = post.score_threshold if isinstance(post, BoxesPost) else DEFAULT_SCORE_THRESHOLD
        return [
            None if frame is None else (predictor.detect(frame, min_score=0.0)[0], frame.shape[:2], threshold)
            for frame in readable(self.frame, samples)
        ]

    def score(self, evidence: list[Any], samples: Sequence[BoxSample], classes: list[str]) -> EvalReport:
        kept = [(sample, item) for sample, item in zip(samples, evidence, strict=True) if item is not None]
        threshold = kept[0][1][2] if kept else DEFAULT_SCORE_THRESHOLD
        detections, sizes = [item[0] for _, item in kept], [item[1] for _, item in kept]
        return coco_map([s for s, _ in kept], detections, classes, sizes, threshold)

    def agreement(self, expected: list[np.ndarray], actual: list[np.ndarray]) -> tuple[int, int, float]:
        return box_agreement(expected, actual)


def box_agreement(
    expected: list[np.ndarray], actual: list[np.ndarray], score_floor: float = 0.3
) -> tuple[int, int, float]:
    """PyTorch boxes scoring at least ``score_floor`` that ONNX returns too (same label, IoU >= 0.9).

    Boxes near the graph's score floor may flip in or out on rounding noise, which is not disagreement.
    """
    boxes, scores, labels = (np.asarray(t) for t in expected[:3])
    matched, total, max_diff = 0, 0, 0.0
    for box, label in zip(boxes[scores >= score_floor], labels[scores >= score_floor], strict=True):
        total += 1
        same = np.asarray(actual[2]) == label
        if same.any():
            candidates = np.asarray(actual[0])[same]
            ious = _iou(box, candidates)
            if ious.max() >= 0.9:
                matched += 1
                max_diff = max(max_diff, float(np.abs(candidates[ious.argmax()] - box).max()))
    return matched, total, max_diff


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(box[0], boxes[:, 0]), np.maximum(box[1], boxes[:, 1])
    x2, y2 = np.minimum(box[2], boxes[:, 2]), np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    return inter / np.maximum(_area(box) + _area(boxes) - inter, 1e-9)


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
