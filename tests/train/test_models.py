"""The model zoo: offline pretrained weights really are ImageNet weights; missing weights fail clearly."""

import cv2
import pytest
import torch
import torchvision

from edge_runtime.bundle import InputSpec
from edge_runtime.preprocess import preprocess
from train.lite_weights import (
    LITE_VARIANTS,
    lite_classifier,
    map_lite_state_dict,
    offline_weights_path,
    stage_depths,
)
from train.models import WeightsError, build_model

skimage_data = pytest.importorskip("skimage.data")

IMAGENET_TABBY_CAT = 285
IMAGENET_ESPRESSO = 967


@pytest.fixture(scope="module")
def lite0() -> torch.nn.Module:
    return build_model("efficientnet_lite0", num_classes=1000, weights="DEFAULT").module.eval()


@pytest.mark.parametrize(("image_name", "expected"), [("chelsea", IMAGENET_TABBY_CAT), ("coffee", IMAGENET_ESPRESSO)])
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
    built = build_model("efficientnet_lite0", num_classes=5, weights="none")
    out = built.module.eval()(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 5)
    assert built.head.out_features == 5


def test_torchvision_model_head_replaced_without_weights():
    built = build_model("mobilenet_v3_small", num_classes=3, weights="none")
    assert built.module.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


def test_missing_download_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", _offline)
    with pytest.raises(WeightsError, match="checkpoints"):
        build_model("resnet18", num_classes=5, weights="DEFAULT")


def test_unknown_model_lists_choices():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        build_model("no_such_net", num_classes=2, weights="none")


def _offline(*args, **kwargs):
    raise OSError("network unreachable (simulated offline site)")


def test_local_weights_file_that_does_not_fit_is_refused(tmp_path):
    bad = tmp_path / "bad.pth"
    torch.save({"nothing": torch.zeros(1)}, bad)
    with pytest.raises(WeightsError, match="does not fit"):
        build_model("mobilenet_v3_small", num_classes=3, weights=str(bad))
