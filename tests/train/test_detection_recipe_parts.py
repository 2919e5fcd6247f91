"""Recipe pieces: box-aware augmentation moves boxes with pixels, repeat factors favour rare classes,
the photometric policy follows the data's light, and the fine-tuning groups protect the backbone."""

import cv2
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from edge_runtime.bundle import InputSpec
from edge_runtime.errors import ConfigError
from train.augment import AugmentConfig, augment_with_mask
from train.detection.balance import repeat_factors
from train.detection.boxaug import BoxAugmentConfig, Boxed, augment_boxes, hflip, mosaic, scale_jitter
from train.detection.config import DetectOptimConfig
from train.detection.data import BoxLoader, BoxSample
from train.finetune import param_groups
from train.lite_weights import lite_features
from train.models import ModelRequest, build_model
from train.photometric import UNDERGROUND, light_policy, light_statistics, photometric_policy
from train.recipe import Recipe


def _squares(height=120, width=160, boxes=((20, 30, 60, 70), (100, 40, 150, 110))) -> Boxed:
    """White filled rectangles on black, one per box: the pixels say where each box must be."""
    image = np.zeros((height, width, 3), np.uint8)
    for x1, y1, x2, y2 in boxes:
        image[y1:y2, x1:x2] = 255
    return Boxed(image, np.array(boxes, np.float32), np.arange(len(boxes), dtype=np.int64))


def _white_share(item: Boxed) -> list[float]:
    """Share of white pixels inside each box (1.0 when box and pixels moved together)."""
    grey = item.image[..., 0]
    return [
        float((grey[int(y1) : int(y2), int(x1) : int(x2)] > 127).mean())
        for x1, y1, x2, y2 in item.boxes.round()
    ]


def test_hflip_moves_boxes_with_the_pixels():
    flipped = hflip(_squares())
    assert flipped.boxes.tolist()[0] == [100.0, 30.0, 140.0, 70.0]
    assert min(_white_share(flipped)) == 1.0


@pytest.mark.parametrize("seed", range(12))
def test_scale_jitter_keeps_boxes_on_their_objects(seed):
    item = scale_jitter(_squares(), np.random.default_rng(seed), (0.5, 1.8), min_visible=0.4)
    assert item.image.shape == (120, 160, 3)
    assert ((item.boxes >= 0) & (item.boxes <= [160, 120, 160, 120])).all()
    assert all(share > 0.9 for share in _white_share(item))  # edges are interpolated


def test_scale_jitter_drops_boxes_mostly_cut_away():
    item = _squares(boxes=((0, 0, 60, 60),))
    kept = [len(scale_jitter(item, np.random.default_rng(s), (1.8, 1.8), 0.5).boxes) for s in range(60)]
    assert 0 in kept and 1 in kept  # a corner box survives some zooms and not others


@pytest.mark.parametrize("seed", range(6))
def test_mosaic_boxes_stay_on_their_objects_inside_the_canvas(seed):
    rng = np.random.default_rng(seed)
    items = [
        _squares(int(rng.integers(80, 200)), int(rng.integers(80, 200)), ((10, 10, 50, 50), (40, 30, 70, 75)))
        for _ in range(4)
    ]
    out = mosaic(items, rng, min_visible=0.4)
    assert out.image.shape == items[0].image.shape and len(out.boxes) == len(out.labels) > 0
    assert all(share > 0.85 for share in _white_share(out))


def test_augment_boxes_draws_three_more_frames_for_mosaic_only():
    drawn = []

    def draw():
        drawn.append(1)
        return _squares()

    config = BoxAugmentConfig(mosaic=1.0)
    augment_boxes(_squares(), config, np.random.default_rng(0), draw)
    assert len(drawn) == 3
    augment_boxes(_squares(), config.model_copy(update={"mosaic": 0.0}), np.random.default_rng(0), draw)
    assert len(drawn) == 3


def test_repeat_factors_favour_images_with_the_rare_class():
    labels = [np.array([0])] * 90 + [np.array([0, 1])] * 10  # class 1 in 10 % of images
    weights = repeat_factors(labels, 2, threshold=0.4)
    assert weights[0] == 1.0 and weights[-1] == pytest.approx(2.0)  # sqrt(0.4 / 0.1)
    assert repeat_factors([np.array([], np.int64)], 2).tolist() == [1.0]
    with pytest.raises(ValueError, match="threshold"):
        repeat_factors(labels, 2, threshold=0)


def test_photometric_policy_follows_the_data_light(tmp_path):
    rng = np.random.default_rng(0)
    bright = [tmp_path / f"day{i}.png" for i in range(4)]
    dark = [tmp_path / f"mine{i}.png" for i in range(4)]
    for path in bright:
        cv2.imwrite(str(path), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))  # mean 128, std 74
    for path in dark:
        cv2.imwrite(str(path), rng.integers(0, 40, (32, 32, 3), dtype=np.uint8))
    base = AugmentConfig()
    day = photometric_policy(light_statistics(bright), base)
    mine = photometric_policy(light_statistics(dark), base)
    assert all(getattr(day, name) == 0 for name in UNDERGROUND) and day.noise == base.noise
    assert mine == base


def test_param_groups_scale_the_backbone_and_skip_decay_on_norms():
    body = lite_features(0, pretrained=False)
    head = torch.nn.Sequential(torch.nn.Conv2d(320, 4, 1), torch.nn.BatchNorm2d(4))
    model = torch.nn.ModuleDict({"backbone": body, "head": head})
    groups = param_groups(model.parameters(), head, 1e-3, 0.1, 0.05, norm_decay=False)
    assert sorted((round(g["lr"], 9), g["weight_decay"]) for g in groups) == [
        (1e-4, 0.0),
        (1e-4, 0.05),
        (1e-3, 0.0),
        (1e-3, 0.05),
    ]
    assert all(p.ndim <= 1 for g in groups if g["weight_decay"] == 0 for p in g["params"])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    plain = param_groups(model.parameters(), None, 1e-3, 0.1, 0.05)
    assert [(g["lr"], g["weight_decay"]) for g in plain] == [(1e-3, 0.05)]


def test_detection_recipe_freezes_stem_two_stages_and_backbone_batchnorm():
    built = build_model("detect", "fcos_efficientnet_lite0_fpn", ModelRequest(3, "none", image_size=(64, 64)))
    recipe = Recipe(built, DetectOptimConfig(), steps_per_epoch=10)
    recipe.begin_epoch(0)
    recipe.train_mode()
    body = built.module.backbone.body
    frozen = [body.conv_stem, *body.blocks[:2]]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for p in body.blocks[2][0].conv_pw.parameters())
    norms = [m for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training or m.weight.requires_grad for m in norms)
    assert built.module.head.training  # the new parts train
    lrs = [g["lr"] for g in recipe.optimizer.param_groups]
    assert min(lrs) == pytest.approx(0.1 * max(lrs), rel=1e-6)  # backbone x0.1 (warm-up scales both)


def test_freeze_stages_needs_a_model_that_declares_stages():
    built = build_model(
        "detect", "ssdlite320_mobilenet_v3_large", ModelRequest(3, "none", image_size=(64, 64))
    )
    with pytest.raises(ConfigError, match="freeze_stages"):
        Recipe(built, DetectOptimConfig(), steps_per_epoch=10).begin_epoch(0)


PHOTOMETRIC_OFF = dict.fromkeys(
    ("gamma", "low_light", "haze", "noise", "motion_blur", "glare", "water_drops"), 0.0
)


@pytest.mark.parametrize("seed", range(8))
def test_box_loader_boxes_land_on_their_objects_in_the_model_input(tmp_path, seed):
    """The training item as the model sees it (jittered, flipped, letterboxed): every target box
    covers white pixels of the input tensor, so boxes followed every geometric transform."""
    item = _squares()
    path = tmp_path / "squares.png"
    cv2.imwrite(str(path), item.image)
    sample = BoxSample(path, item.boxes, item.labels)
    spec = InputSpec(size=(96, 96), resize="letterbox", colour="rgb", mean=(0.0,) * 3, std=(1.0,) * 3)
    config = BoxAugmentConfig(scale_jitter=1.0, hflip=0.5, mosaic=0.3, **PHOTOMETRIC_OFF)
    tensor, target = BoxLoader(spec, config, [sample])(sample, np.random.default_rng(seed))
    grey = tensor.numpy()[0]
    assert len(target["boxes"]) > 0
    for x1, y1, x2, y2 in target["boxes"].round().int().tolist():
        assert (grey[y1:y2, x1:x2] > 0.5).mean() > 0.85


def test_detection_refuses_augmentations_boxes_cannot_follow():
    with pytest.raises(ValidationError, match="scale_jitter"):
        BoxAugmentConfig(resized_crop=0.3)
    with pytest.raises(ValidationError, match="rotate"):
        BoxAugmentConfig(rotate=0.2)


@pytest.mark.parametrize("seed", range(6))
def test_masks_follow_crops_rotations_and_flips(seed):
    mask = np.zeros((80, 120), np.uint8)
    mask[20:50, 30:70] = 1
    image = np.repeat((mask * 255)[..., None], 3, axis=2)
    config = AugmentConfig(resized_crop=1.0, rotate=1.0, hflip=0.5, **PHOTOMETRIC_OFF)
    out_image, out_mask = augment_with_mask(image, mask, config, np.random.default_rng(seed))
    assert out_image.shape[:2] == out_mask.shape and set(np.unique(out_mask)) <= {0, 1}
    agree = (out_image[..., 0] > 127) == (out_mask == 1)
    assert agree.mean() > 0.98  # only interpolated edge pixels may differ


def test_light_policy_on_off_and_auto(tmp_path):
    path = tmp_path / "day.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    assert light_policy(AugmentConfig(underground="on"), [path]).haze == AugmentConfig().haze
    assert light_policy(AugmentConfig(underground="off"), [path]).haze == 0
    assert light_policy(AugmentConfig(), [path]).haze == 0  # daylight statistics
