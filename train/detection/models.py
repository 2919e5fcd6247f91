"""Torchvision detectors by name, with the class head replaced for the data's classes.

Every entry takes the same inputs: ``weights`` (``DEFAULT``, a weights enum name, a local ``.pth``
of a whole detector, or ``none``) and ``weights_backbone`` (``DEFAULT``, an enum name, or ``none``)
for an ImageNet-pretrained backbone under a new detector. Both go through torchvision's normal
cache, so an offline site stages them by copying the ``.pth`` files (see ``WeightsError``).

The detector's own transform is neutralised (mean 0, std 1, no resize): edge_runtime's
preprocessing has already resized and normalised the frame, so training, export and the device
feed the network identical tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import nn

from edge_runtime.registry import Registry
from train.models import IMAGENET_MEAN, IMAGENET_STD, WeightsError

GRAPH_MIN_SCORE = 0.05  # detections below this never leave the graph (the COCO evaluation floor)

_DETECTORS: Registry[Callable[[nn.Module, int], None]] = Registry("detector")  # how to replace each model's class head
register_detector = _DETECTORS.register


def list_detectors() -> list[str]:
    from train.detection.lite import LITE_DETECTORS

    return sorted(_DETECTORS.names() + LITE_DETECTORS.names())


@register_detector("fasterrcnn_mobilenet_v3_large_320_fpn")
@register_detector("fasterrcnn_mobilenet_v3_large_fpn")
def _faster_rcnn_head(model: nn.Module, num_outputs: int) -> None:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    model.roi_heads.box_predictor = FastRCNNPredictor(model.roi_heads.box_predictor.cls_score.in_features, num_outputs)
    model.roi_heads.score_thresh = GRAPH_MIN_SCORE


@register_detector("ssdlite320_mobilenet_v3_large")
def _ssdlite_head(model: nn.Module, num_outputs: int) -> None:
    from torchvision.models.detection.ssdlite import SSDLiteClassificationHead

    in_channels = [block[0][0].in_channels for block in model.head.classification_head.module_list]
    num_anchors = model.anchor_generator.num_anchors_per_location()
    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    model.head.classification_head = SSDLiteClassificationHead(in_channels, num_anchors, num_outputs, norm_layer)
    model.score_thresh = GRAPH_MIN_SCORE


@register_detector("retinanet_resnet50_fpn")
def _retinanet_head(model: nn.Module, num_outputs: int) -> None:
    from torchvision.models.detection.retinanet import RetinaNetClassificationHead

    head = model.head.classification_head
    model.head.classification_head = RetinaNetClassificationHead(model.backbone.out_channels, head.num_anchors, num_outputs)
    model.score_thresh = GRAPH_MIN_SCORE


def build_detector(
    name: str,
    num_classes: int,
    image_size: tuple[int, int],
    weights: str = "DEFAULT",
    weights_backbone: str = "none",
    trainable_backbone_layers: int | None = None,
) -> nn.Module:
    """A detector for ``num_classes`` object classes (plus torchvision's background index 0)."""
    import torchvision

    from train.detection.lite import LITE_DETECTORS, build_lite_detector

    if name in LITE_DETECTORS:
        return build_lite_detector(name, num_classes, image_size, weights, weights_backbone)
    if name not in _DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of: {', '.join(list_detectors())}")
    local = weights.lower() != "none" and Path(weights).suffix == ".pth"
    hub = None if weights.lower() == "none" or local else weights
    backbone = None if weights_backbone.lower() == "none" or hub else weights_backbone
    options = {} if hub or trainable_backbone_layers is None else {"trainable_backbone_layers": trainable_backbone_layers}
    try:
        model = torchvision.models.get_model(name, weights=hub, weights_backbone=backbone, **options)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise WeightsError(
            f"could not fetch torchvision weights (weights={weights!r}, weights_backbone={weights_backbone!r}) for "
            f"{name} ({exc}). On an offline machine, copy the .pth files from a connected machine's torch hub "
            f"cache into {torch.hub.get_dir()}/checkpoints/, pass weights=/path/to/detector.pth, or use "
            f"weights=none weights_backbone=none to train from scratch"
        ) from exc
    _DETECTORS.get(name)(model, num_classes + 1)
    if local:
        if not Path(weights).is_file():
            raise WeightsError(f"weights file {weights} not found (weights= takes DEFAULT, none or a .pth path)")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("state_dict", state))
    _neutral_transform(model, image_size)
    return model


def _neutral_transform(model: nn.Module, image_size: tuple[int, int]) -> None:
    """Make the detector's internal transform the identity on edge_runtime-preprocessed tensors."""
    transform = model.transform
    transform.image_mean, transform.image_std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    transform.min_size, transform.max_size = (min(image_size),), max(image_size)
    if getattr(transform, "fixed_size", None) is not None:
        transform.fixed_size = (image_size[1], image_size[0])  # torchvision's fixed_size is (width, height)


NORMALISATION = (IMAGENET_MEAN, IMAGENET_STD)  # what every torchvision backbone was pretrained with


def detector_normalisation(name: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The input mean and std ``name``'s backbone was pretrained with (the bundle's preprocessing)."""
    from train.detection import lite

    return lite.NORMALISATION if name in lite.LITE_DETECTORS else NORMALISATION


class DetectorForExport(nn.Module):
    """Batch-1 images tensor -> (boxes xyxy in input pixels, scores, labels 0..K-1), NMS inside.

    The ONNX and OpenVINO artifacts have this signature; ``edge_runtime.detection`` decodes it.
    """

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        result = self.detector([images[0]])[0]
        return result["boxes"], result["scores"], result["labels"] - 1
