"""Offline-pretrained Lite detectors and segmenters: the backbone inside them is still the ImageNet
network, frozen-BatchNorm checkpoints load into the exported model, every registered name builds."""

import cv2
import pytest
import torch

from edge_runtime.bundle import InputSpec
from edge_runtime.preprocess import preprocess
from train.detection.lite import LITE_DETECTORS
from train.lite_weights import (
    LITE_MEAN,
    LITE_STD,
    LITE_VARIANTS,
    WeightsError,
    check_variant,
    lite_classifier,
)
from train.models import ModelRequest, build_model
from train.segmentation.lite import LITE_SEGMENTERS

skimage_data = pytest.importorskip("skimage.data")

IMAGENET = {"chelsea": 285, "coffee": 967}  # tabby cat, espresso
NATIVE_SIZE = {0: 224, 1: 240, 2: 260}


def build_detector(name: str, num_classes: int, size: tuple[int, int], weights: str) -> torch.nn.Module:
    return build_model("detect", name, ModelRequest(num_classes, weights, image_size=size)).module


def build_segmenter(name: str, num_classes: int, weights: str) -> torch.nn.Module:
    return build_model("segment", name, ModelRequest(num_classes, weights)).module


def _imagenet_top1(body: torch.nn.Module, variant: int, image_name: str) -> int:
    """Classify with ``body``'s weights under the packaged ImageNet head: only the body is taken from it."""
    classifier = lite_classifier(variant, pretrained=True).eval()
    missing, unexpected = classifier.load_state_dict(body.state_dict(), strict=False)
    assert not unexpected and {k.split(".")[0] for k in missing} <= {"conv_head", "bn2", "classifier"}
    assert not [
        k for k in missing if not k.endswith("num_batches_tracked") and k.startswith(("blocks", "conv_stem"))
    ]
    rgb = getattr(skimage_data, image_name)()
    size = NATIVE_SIZE[variant]
    batch = preprocess(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), InputSpec(size=(size, size), mean=LITE_MEAN, std=LITE_STD)
    )
    with torch.no_grad():
        return int(classifier(torch.from_numpy(batch)).argmax())


@pytest.mark.parametrize("variant", LITE_VARIANTS)
def test_detector_backbone_still_recognises_imagenet_classes(variant):
    detector = build_detector(f"fcos_efficientnet_lite{variant}_fpn", 5, (320, 320), weights="DEFAULT")
    body = detector.backbone.body  # the recipe keeps its BatchNorm as pretrained (optim.freeze_bn)
    assert {name: _imagenet_top1(body, variant, name) for name in IMAGENET} == IMAGENET


@pytest.mark.parametrize("variant", LITE_VARIANTS)
def test_segmenter_backbone_still_recognises_imagenet_classes(variant):
    segmenter = build_segmenter(f"lraspp_efficientnet_lite{variant}", 3, weights="DEFAULT")
    assert {name: _imagenet_top1(segmenter.backbone.body, variant, name) for name in IMAGENET} == IMAGENET


def test_scratch_backbone_is_not_the_imagenet_one():
    pretrained = build_detector("fcos_efficientnet_lite0_fpn", 5, (128, 128), weights="DEFAULT").backbone.body
    scratch = build_detector("fcos_efficientnet_lite0_fpn", 5, (128, 128), weights="none").backbone.body
    key = "conv_stem.weight"
    assert not torch.equal(pretrained.state_dict()[key], scratch.state_dict()[key])


@pytest.mark.parametrize("name", LITE_DETECTORS.names())
def test_lite_detectors_use_the_lite_normalisation(name):
    built = build_model("detect", name, ModelRequest(3, "none", image_size=(64, 64)))
    assert (built.mean, built.std) == (LITE_MEAN, LITE_STD)


@pytest.mark.parametrize("name", LITE_SEGMENTERS.names())
def test_every_lite_segmenter_gives_logits_at_the_input_size(name):
    built = build_model("segment", name, ModelRequest(3, "none"))
    assert (built.mean, built.std) == (LITE_MEAN, LITE_STD)
    out = built.module.eval()(torch.rand(1, 3, 96, 128))["out"]
    assert out.shape == (1, 3, 96, 128)


def test_unknown_variant_and_missing_weights_file_are_clear_errors(tmp_path):
    with pytest.raises(WeightsError, match=r"\[0, 1, 2\]"):
        check_variant(3)
    with pytest.raises(WeightsError, match="not found"):
        build_detector("fcos_efficientnet_lite0_fpn", 3, (64, 64), weights=str(tmp_path / "missing.pth"))
