"""Offline-pretrained segmenters: torchvision's LR-ASPP head on an EfficientNet-Lite0/1/2 backbone.

torchvision's LR-ASPP takes a backbone that returns ``{"low": ..., "high": ...}``; here the low
branch is the Lite's stride-8 stage and the high branch its last stage (stride 32, where
torchvision's MobileNetV3 uses a dilated stride 16: timm's Lite has no dilation to offer without
changing the pretrained receptive fields). ImageNet weights come from ``train.lite_weights``.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from edge_runtime.registry import Registry
from train.lite_weights import (
    LITE_MEAN,
    LITE_STD,
    LITE_VARIANTS,
    lite_features,
    lite_stages,
    load_trained,
    wants_imagenet,
)
from train.models import BuiltModel, ModelRequest, register_model


class LowHigh(nn.Module):
    """A Lite feature extractor returning LR-ASPP's two inputs."""

    def __init__(self, variant: int, pretrained: bool) -> None:
        super().__init__()
        self.body = lite_features(variant, pretrained, out_indices=(2, 4))
        self.low_channels, self.high_channels = self.body.feature_info.channels()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        low, high = self.body(images)
        return {"low": low, "high": high}


LITE_SEGMENTERS: Registry[int] = Registry("lite segmenter")
for _variant in LITE_VARIANTS:
    LITE_SEGMENTERS.register(f"lraspp_efficientnet_lite{_variant}")(_variant)


def build_lite_segmenter(
    name: str, num_classes: int, weights: str = "DEFAULT", weights_backbone: str = "none"
) -> nn.Module:
    """LR-ASPP for ``num_classes``; ImageNet backbone when a weights is DEFAULT; or a segmenter ``.pth``."""
    from torchvision.models.segmentation.lraspp import LRASPP

    variant = LITE_SEGMENTERS.get(name)
    if variant is None:
        raise ValueError(
            f"unknown Lite segmenter {name!r}; choose one of: {', '.join(LITE_SEGMENTERS.names())}"
        )
    backbone = LowHigh(variant, wants_imagenet(weights, weights_backbone))
    return load_trained(LRASPP(backbone, backbone.low_channels, backbone.high_channels, num_classes), weights)


def _built(name: str, request: ModelRequest) -> BuiltModel:
    """The ``segment`` family's builder: the LR-ASPP head is new, the backbone pretrained."""
    module = build_lite_segmenter(name, request.num_classes, request.weights, request.weights_backbone)
    stages = lite_stages(module.backbone.body)
    return BuiltModel(module, mean=LITE_MEAN, std=LITE_STD, head=module.classifier, stages=stages)


for _name in LITE_SEGMENTERS.names():
    register_model("segment", _name)(partial(_built, _name))
