"""FCOS and RetinaNet whose exported post-processing never handles an empty pyramid level.

torchvision's dense detectors keep, per level, the candidates scoring above ``score_thresh`` and clip
their boxes with a reshape. A level with no candidate makes that a zero-row tensor, and ONNX Runtime's
graph optimizer (once the graph's shapes are recorded, as its INT8 quantizer records them) fuses the
reshape's target to ``{0, -1}``, which cannot be resolved on zero rows: the PPE detector's onnx-int8
failed on every frame where a level was empty (issue 14). OpenVINO and PyTorch run it fine.

The fix keeps torchvision's post-processing and feeds it one extra location per level, scoring 1 in an
extra class no real location can reach; its detections are removed after NMS. So no level is ever
empty, and the detections are torchvision's own: the extra class has its own NMS, and the candidate
and detection limits are raised by the extra locations before the real detections are cut to them.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch import Tensor, nn

# logits of the extra location's class (and of that class elsewhere): their sigmoids are 1 and about
# 2e-22 in float32 and bfloat16, far from the score floor, with no exp near overflow
SURE_LOGIT = 50.0

# the extra location's value for each head output: class logits get the extra class set apart below
_EXTRA_ROW = {"bbox_regression": 0.0, "bbox_ctrness": SURE_LOGIT}


def _pad_levels(outputs: list[Tensor], fill: float) -> list[Tensor]:
    """Each level's (N, locations, C) output with one more location of ``fill``."""
    return [torch.cat([level, torch.full_like(level[:, :1], fill)], dim=1) for level in outputs]


def _pad_logits(logits: list[Tensor]) -> list[Tensor]:
    """(N, locations, K) -> (N, locations + 1, K + 1): an extra class only the extra location has."""
    padded = []
    for level in logits:
        level = torch.cat([level, torch.full_like(level[..., :1], -SURE_LOGIT)], dim=2)
        extra = torch.cat(
            [torch.full_like(level[:, :1, :-1], -SURE_LOGIT), torch.full_like(level[:, :1, :1], SURE_LOGIT)],
            dim=2,
        )
        padded.append(torch.cat([level, extra], dim=1))
    return padded


def _pad_anchors(anchors: list[list[Tensor]]) -> list[list[Tensor]]:
    """One unit box per level for the extra location (its box never leaves the post-processing)."""
    unit = [0.0, 0.0, 1.0, 1.0]
    return [[torch.cat([level, level.new_tensor([unit])]) for level in image] for image in anchors]


class OneCandidatePerLevel:
    """Mixin over torchvision's ``FCOS``/``RetinaNet``: every level keeps a candidate (see the module).

    ``topk_candidates`` and ``detections_per_img`` are raised by the extra locations (``shape_safe``);
    ``real_detections`` is the detector's own limit.
    """

    real_detections: int

    def postprocess_detections(
        self, head_outputs: dict[str, list[Tensor]], anchors: list[list[Tensor]], image_shapes: list
    ) -> list[dict[str, Tensor]]:
        classes = head_outputs["cls_logits"][0].shape[-1]
        padded = {
            key: _pad_logits(value) if key == "cls_logits" else _pad_levels(value, _EXTRA_ROW[key])
            for key, value in head_outputs.items()
        }
        found = super().postprocess_detections(padded, _pad_anchors(anchors), image_shapes)  # type: ignore[misc]
        kept = []
        for detections in found:
            real = detections["labels"] < classes
            kept.append({key: value[real][: self.real_detections] for key, value in detections.items()})
        return kept


@functools.cache
def _padded_classes() -> dict[type, type]:
    from torchvision.models.detection import FCOS, RetinaNet

    return {
        FCOS: type("OneCandidatePerLevelFCOS", (OneCandidatePerLevel, FCOS), {}),
        RetinaNet: type("OneCandidatePerLevelRetinaNet", (OneCandidatePerLevel, RetinaNet), {}),
    }


def shape_safe(detector: nn.Module) -> nn.Module:
    """``detector`` with every level kept non-empty (FCOS, RetinaNet), sharing its modules and weights;
    any other detector as it is (SSD and Faster R-CNN filter after their reshapes)."""
    padded = _padded_classes().get(type(detector))
    if padded is None:
        return detector
    view: Any = copy.copy(detector)  # shallow: the same submodules and weights, its own class and limits
    view.__class__ = padded
    view.real_detections = view.detections_per_img
    view.topk_candidates += 1  # the extra location never displaces a real candidate
    view.detections_per_img += len(view.anchor_generator.sizes)  # nor a real detection
    return view
