"""The model zoo: offline pretrained weights really are ImageNet weights; missing weights fail clearly."""

import cv2
import pytest
import torch
import torchvision

from edge_runtime.bundle import InputSpec
from edge_runtime.preprocess import preprocess
from edge_runtime.registry import UnknownNameError
from train.lite_weights import (
    LITE_VARIANTS,
    lite_classifier,
    map_lite_state_dict,
    offline_weights_path,
    stage_depths,
)
from train.models import BuiltModel, ModelRequest, WeightsError, build_model, register_model

skimage_data = pytest.importorskip("skimage.data")

IMAGENET_TABBY_CAT = 285
IMAGENET_ESPRESSO = 967


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    return build_model("classify", "efficientnet_lite0", ModelRequest(1000, "DEFAULT")).module.eval()


@pytest.mark.parametrize(
    ("image_name", "expected"), [("chelsea", IMAGENET_TABBY_CAT), ("coffee", IMAGENET_ESPRESSO)]
)
def test_offline_lite0_recognises_imagenet_classes(lite0, image_name, expected):
    rgb = getattr(skimage_data, image_name)()
    spec = InputSpec(size=(224, 224), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    batch = preprocess(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), spec)
    with torch.no_grad():
        assert int(lite0(torch.from_numpy(batch)).argmax()) == expected


@pytest.mark.parametrize("variant", LITE_VARIANTS)
def test_lite_mapping_covers_every_parameter(variant):
    source = torch.load(offline_weights_path(variant), map_location="cpu", weights_only=True)
    target = lite_classifier(variant, pretrained=False)
    mapped = map_lite_state_dict(source, stage_depths(target))
    target = target.state_dict()
    assert mapped.keys() == target.keys()
    assert all(mapped[k].shape == target[k].shape for k in target)


def test_head_is_replaced_for_the_data_classes():
    built = build_model("classify", "efficientnet_lite0", ModelRequest(5, "none"))
    out = built.module.eval()(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 5)
    assert built.head.out_features == 5


def test_torchvision_model_head_replaced_without_weights():
    built = build_model("classify", "mobilenet_v3_small", ModelRequest(3, "none"))
    assert built.module.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


def test_missing_download_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", _offline)
    with pytest.raises(WeightsError, match="checkpoints"):
        build_model("classify", "resnet18", ModelRequest(5, "DEFAULT"))


def test_unknown_model_lists_choices():
    with pytest.raises(UnknownNameError, match="efficientnet_lite0"):
        build_model("classify", "no_such_net", ModelRequest(2, "none"))
    with pytest.raises(UnknownNameError, match="ssdlite320_mobilenet_v3_large"):
        build_model("detect", "no_such_detector", ModelRequest(2, "none", image_size=(64, 64)))


def test_a_new_builder_is_one_decorator_and_a_second_under_its_name_is_refused():
    @register_model("segment", "tests_tiny_segmenter")
    def tiny(request: ModelRequest) -> BuiltModel:
        return BuiltModel(torch.nn.Conv2d(3, request.num_classes, 1), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

    assert build_model("segment", "tests_tiny_segmenter", ModelRequest(4)).module.out_channels == 4
    with pytest.raises(ValueError, match="already registered"):
        register_model("segment", "tests_tiny_segmenter")(tiny)


def _offline(*args, **kwargs):
    raise OSError("network unreachable (simulated offline site)")


def test_local_weights_file_that_does_not_fit_is_refused(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"nothing": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="does not fit"):
        build_model("classify", "mobilenet_v3_small", ModelRequest(3, str(bad)))
