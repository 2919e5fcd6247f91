"""Semantic segmentation: image + mask folders in; a class mask per frame out (``mask``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edge_runtime.bundle import ModelInterface
from edge_runtime.model import Predictor
from edge_runtime.postprocess_spec import MaskPost
from edge_runtime.segmentation import IGNORE_INDEX
from train.data import files_entries, fingerprint, readable
from train.evaluation import EvalReport
from train.models import BuiltModel, ModelRequest
from train.segmentation.config import SegmentTrainConfig
from train.segmentation.data import (
    MaskSample,
    frame_mask,
    load_masked,
    read_classes,
    read_mask,
    read_mask_splits,
)
from train.segmentation.metrics import accumulate, iou_report
from train.task import GateDefaults, LossFn, TaskData, register_task
from train.tasks.base import ImageTask


class SegmenterForExport(nn.Module):
    """Images -> per-pixel class logits (N, classes, H, W) at the input size; decoded by edge_runtime."""

    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.segmenter(images)["out"]


@register_task
class Segment(ImageTask):
    name = "segment"
    config_type = SegmentTrainConfig
    family = "segment"
    metric = "miou"
    class_figure = "iou"
    gate = GateDefaults(floor_margin=0.05)  # the floor: 5 pp above painting every pixel one class
    drop_last = True  # BatchNorm cannot train on a last batch of one
    min_agreement = 0.95  # share of mask pixels; logits near a class boundary may tie differently
    parity_atol = None
    load_item = staticmethod(load_masked)

    def read_data(self, config: SegmentTrainConfig, root: Path | None = None) -> TaskData:
        data = config.data
        root = root or data.root
        classes = read_classes(root, data.classes)
        splits = read_mask_splits(root, config.seed, data.val_fraction, data.test_fraction)
        every = splits["train"] + splits["val"] + splits["test"]
        entries = files_entries([s.path for s in every] + [s.mask for s in every])
        return TaskData(
            classes, splits["train"], splits["val"], splits["test"], fingerprint(entries), str(root)
        )

    def model_request(self, config: SegmentTrainConfig, data: TaskData) -> ModelRequest:
        return ModelRequest(
            len(data.classes), config.model.weights, config.model.weights_backbone, config.data.image_size
        )

    def interface(self, config: SegmentTrainConfig, data: TaskData, built: BuiltModel) -> ModelInterface:
        spec = self.input_spec(config, built)
        return ModelInterface(task=self.name, classes=data.classes, input=spec, postprocess=MaskPost())

    def loss_fn(self, config: SegmentTrainConfig, data: TaskData, device: torch.device) -> LossFn:
        def loss(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            outputs = model(images)
            total = F.cross_entropy(outputs["out"], labels, ignore_index=IGNORE_INDEX)
            if "aux" in outputs:
                total = total + 0.5 * F.cross_entropy(outputs["aux"], labels, ignore_index=IGNORE_INDEX)
            return total

        return loss

    def export_module(self, model: nn.Module) -> nn.Module:
        return SegmenterForExport(model)

    def measure(self, predictor: Predictor, samples: Sequence[MaskSample]) -> list[Any]:
        """Each frame's pixel confusion matrix at frame resolution (small to gather across ranks)."""
        classes = len(predictor.interface.classes)
        evidence: list[Any] = []
        for sample, frame in zip(samples, readable(self.frame, samples), strict=True):
            if frame is None:
                evidence.append(None)
                continue
            matrix = np.zeros((classes, classes), dtype=np.int64)
            accumulate(matrix, frame_mask(sample, frame.shape[:2]), predictor.segment(frame)[0].mask)
            evidence.append(matrix)
        return evidence

    def score(self, evidence: list[Any], samples: Sequence[MaskSample], classes: list[str]) -> EvalReport:
        matrices = [m for m in evidence if m is not None]
        total = np.sum(matrices, axis=0) if matrices else np.zeros((len(classes), len(classes)), np.int64)
        return iou_report(total, classes, len(matrices))

    def baseline(self, samples: Sequence[MaskSample]) -> float:
        """mIoU of painting every pixel with the commonest class: its pixel share over the classes present."""
        counts = np.zeros(256, np.int64)
        for sample in samples:
            counts += np.bincount(read_mask(sample.mask).ravel(), minlength=256)[:256]
        counts[IGNORE_INDEX] = 0
        present = int((counts > 0).sum())
        return float(counts.max() / counts.sum() / present) if present else 0.0

    def agreement(self, expected: list[np.ndarray], actual: list[np.ndarray]) -> tuple[int, int, float]:
        """Mask pixels with the same arg-max class, and the largest logit difference."""
        want, got = np.asarray(expected[0]), np.asarray(actual[0])
        same = int((want.argmax(1) == got.argmax(1)).sum())
        return same, want[:, 0].size, float(np.abs(want - got).max())
