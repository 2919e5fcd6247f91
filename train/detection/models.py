"""Torchvision detectors by name (family ``detect``), with the class head replaced for the data's classes.

Every entry takes the same request: ``weights`` (``DEFAULT``, a weights enum name, a local ``.pth``
of a whole detector, or ``none``) and ``weights_backbone`` (``DEFAULT``, an enum name, or ``none``)
for an ImageNet-pretrained backbone under a new detector. Both go through torchvision's normal
cache, so an offline site stages them by copying the ``.pth`` files (see ``WeightsError``).

The detector's own transform is neutralised (mean 0, std 1, no resize): edge_runtime's
preprocessing has already resized and normalised the frame, so training, export and the device
feed the network identical tensors. A new detector is one ``@register_model("detect", name)``
builder that returns a torchvision-style detector (``GeneralizedRCNN``, ``SSD``, ``RetinaNet``...).
"""

from __future__ import annotations

from functools import partial

from torch import nn

from edge_runtime.postprocess_spec import GRAPH_MIN_SCORE
from train.models import BuiltModel, HeadSwap, ModelRequest, head_swaps, torchvision_model


def _build(name: str, swap: HeadSwap, request: ModelRequest) -> BuiltModel:
    """A detector for ``num_classes`` object classes (plus torchvision's background index 0)."""
    if request.image_size is None:
        raise ValueError(f"{name}: a detector needs the input image_size")
    layers = request.options.get("trainable_backbone_layers")
    options = {} if layers is None else {"trainable_backbone_layers": layers}
    built = torchvision_model(name, request, swap, request.num_classes + 1, **options)
    neutral_transform(built.module, request.image_size)
    return built


torchvision_detector = head_swaps("detect", _build)


@torchvision_detector("fasterrcnn_mobilenet_v3_large_320_fpn", "fasterrcnn_mobilenet_v3_large_fpn")
def _faster_rcnn_head(model: nn.Module, num_outputs: int) -> nn.Module:
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor

    model.roi_heads.box_predictor = FastRCNNPredictor(
        model.roi_heads.box_predictor.cls_score.in_features, num_outputs
    )
    model.roi_heads.score_thresh = GRAPH_MIN_SCORE
    return model.roi_heads.box_predictor


@torchvision_detector("ssdlite320_mobilenet_v3_large")
def _ssdlite_head(model: nn.Module, num_outputs: int) -> nn.Module:
    from torchvision.models.detection.ssdlite import SSDLiteClassificationHead

    in_channels = [block[0][0].in_channels for block in model.head.classification_head.module_list]
    num_anchors = model.anchor_generator.num_anchors_per_location()
    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    model.head.classification_head = SSDLiteClassificationHead(
        in_channels, num_anchors, num_outputs, norm_layer
    )
    model.score_thresh = GRAPH_MIN_SCORE
    return model.head.classification_head


@torchvision_detector("retinanet_resnet50_fpn")
def _retinanet_head(model: nn.Module, num_outputs: int) -> nn.Module:
    from torchvision.models.detection.retinanet import RetinaNetClassificationHead

    head = model.head.classification_head
    model.head.classification_head = RetinaNetClassificationHead(
        model.backbone.out_channels, head.num_anchors, num_outputs
    )
    model.score_thresh = GRAPH_MIN_SCORE
    return model.head.classification_head


def neutral_transform(model: nn.Module, image_size: tuple[int, int]) -> None:
    """Make a torchvision detector's internal transform the identity on edge_runtime-preprocessed tensors."""
    transform = model.transform
    transform.image_mean, transform.image_std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    transform.min_size, transform.max_size = (min(image_size),), max(image_size)
    if getattr(transform, "fixed_size", None) is not None:
        transform.fixed_size = (image_size[1], image_size[0])  # torchvision's fixed_size is (width, height)
