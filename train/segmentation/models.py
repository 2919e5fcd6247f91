"""Torchvision segmenters by name (family ``segment``), with the class head replaced for the data's classes.

``weights`` (``DEFAULT``, an enum name, a local ``.pth`` of a whole segmenter, or ``none``) and
``weights_backbone`` (ImageNet backbone under a new head) go through torchvision's normal cache; a
missing download is a ``WeightsError`` that says how to stage the files offline. A new segmenter is
one ``@register_model("segment", name)`` builder returning a module whose output is ``{"out": logits}``.
"""

from __future__ import annotations

from torch import nn

from train.models import BuiltModel, HeadSwap, ModelRequest, head_swaps, torchvision_model


def _build(name: str, swap: HeadSwap, request: ModelRequest) -> BuiltModel:
    return torchvision_model(name, request, swap, request.num_classes)


torchvision_segmenter = head_swaps("segment", _build)


def _new_conv(old: nn.Conv2d, num_classes: int) -> nn.Conv2d:
    return nn.Conv2d(old.in_channels, num_classes, kernel_size=old.kernel_size, bias=old.bias is not None)


@torchvision_segmenter("lraspp_mobilenet_v3_large")
def _lraspp_head(model: nn.Module, num_classes: int) -> nn.Module:
    head = model.classifier
    head.low_classifier = _new_conv(head.low_classifier, num_classes)
    head.high_classifier = _new_conv(head.high_classifier, num_classes)
    return nn.ModuleList([head.low_classifier, head.high_classifier])


@torchvision_segmenter("deeplabv3_mobilenet_v3_large")
def _deeplab_head(model: nn.Module, num_classes: int) -> nn.Module:
    model.classifier[4] = _new_conv(model.classifier[4], num_classes)
    if model.aux_classifier is None:
        return model.classifier[4]
    model.aux_classifier[4] = _new_conv(model.aux_classifier[4], num_classes)
    return nn.ModuleList([model.classifier[4], model.aux_classifier[4]])
