"""Torchvision segmenters by name, with the classifier head replaced for the data's classes.

``weights`` (``DEFAULT``, an enum name, a local ``.pth`` of a whole segmenter, or ``none``) and
``weights_backbone`` (ImageNet backbone under a new head) go through torchvision's normal cache;
a missing download is a ``WeightsError`` that says how to stage the files offline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from edge_runtime.registry import Registry
from train.models import IMAGENET_MEAN, IMAGENET_STD, WeightsError

NORMALISATION = (IMAGENET_MEAN, IMAGENET_STD)

_SEGMENTERS: Registry[Callable[[nn.Module, int], None]] = Registry("segmenter")  # how to replace each model's class head
register_segmenter = _SEGMENTERS.register


def list_segmenters() -> list[str]:
    from train.segmentation.lite import LITE_SEGMENTERS

    return sorted(_SEGMENTERS.names() + LITE_SEGMENTERS.names())


def segmenter_normalisation(name: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """The input mean and std ``name``'s backbone was pretrained with (the bundle's preprocessing)."""
    from train.segmentation import lite

    return lite.NORMALISATION if name in lite.LITE_SEGMENTERS else NORMALISATION


def _new_conv(old: nn.Conv2d, num_classes: int) -> nn.Conv2d:
    return nn.Conv2d(old.in_channels, num_classes, kernel_size=old.kernel_size, bias=old.bias is not None)


@register_segmenter("lraspp_mobilenet_v3_large")
def _lraspp_head(model: nn.Module, num_classes: int) -> None:
    head = model.classifier
    head.low_classifier = _new_conv(head.low_classifier, num_classes)
    head.high_classifier = _new_conv(head.high_classifier, num_classes)


@register_segmenter("deeplabv3_mobilenet_v3_large")
def _deeplab_head(model: nn.Module, num_classes: int) -> None:
    model.classifier[4] = _new_conv(model.classifier[4], num_classes)
    if model.aux_classifier is not None:
        model.aux_classifier[4] = _new_conv(model.aux_classifier[4], num_classes)


def build_segmenter(name: str, num_classes: int, weights: str = "DEFAULT", weights_backbone: str = "none") -> nn.Module:
    import torchvision

    from train.segmentation.lite import LITE_SEGMENTERS, build_lite_segmenter

    if name in LITE_SEGMENTERS:
        return build_lite_segmenter(name, num_classes, weights, weights_backbone)
    if name not in _SEGMENTERS:
        raise ValueError(f"unknown segmenter {name!r}; choose one of: {', '.join(list_segmenters())}")
    local = weights.lower() != "none" and Path(weights).suffix == ".pth"
    hub = None if weights.lower() == "none" or local else weights
    backbone = None if weights_backbone.lower() == "none" or hub else weights_backbone
    try:
        model = torchvision.models.get_model(name, weights=hub, weights_backbone=backbone)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise WeightsError(
            f"could not fetch torchvision weights (weights={weights!r}, weights_backbone={weights_backbone!r}) for "
            f"{name} ({exc}). On an offline machine, copy the .pth files from a connected machine's torch hub "
            f"cache into {torch.hub.get_dir()}/checkpoints/, pass weights=/path/to/segmenter.pth, or use "
            f"weights=none weights_backbone=none to train from scratch"
        ) from exc
    _SEGMENTERS.get(name)(model, num_classes)
    if local:
        if not Path(weights).is_file():
            raise WeightsError(f"weights file {weights} not found (weights= takes DEFAULT, none or a .pth path)")
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state.get("state_dict", state))
    return model


class SegmenterForExport(nn.Module):
    """Images -> per-pixel class logits (N, classes, H, W) at the input size; decoded by edge_runtime."""

    def __init__(self, segmenter: nn.Module) -> None:
        super().__init__()
        self.segmenter = segmenter

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.segmenter(images)["out"]
