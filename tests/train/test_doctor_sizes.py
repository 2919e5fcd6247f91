"""The doctor judges boxes at the size the detector trains at: small helmets warn at image_size 320
letterbox, not at a size where they are large enough, and stretch scales the axes apart."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from train.__main__ import main as train_main
from train.doctor import DoctorConfig, examine

PHOTO_W, PHOTO_H = 640, 480
HELMET_HEIGHTS = (20, 26, 28, 40)  # px in the photo; each helmet is twice as wide as high


def _tiny_yolo(root: Path) -> Path:
    """Four 640x480 photos, each with one helmet (flat: 2h x h px) and one truck (200x150 px)."""
    rng = np.random.default_rng(0)
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    for n, height in enumerate(HELMET_HEIGHTS):
        photo = rng.integers(40, 220, (PHOTO_H, PHOTO_W, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / "train" / f"{n}.jpg"), photo)
        helmet = f"0 0.3 0.3 {2 * height / PHOTO_W} {height / PHOTO_H}"
        truck = f"1 0.6 0.6 {200 / PHOTO_W} {150 / PHOTO_H}"
        (root / "labels" / "train" / f"{n}.txt").write_text(f"{helmet}\n{truck}\n")
    (root / "data.yaml").write_text(yaml.safe_dump({"train": "images/train", "names": ["helmet", "truck"]}))
    return root


def _warned(report) -> list[str]:
    return [f.detail for f in report.findings if f.check == "small_objects"]


@pytest.fixture
def helmets(tmp_path) -> Path:
    return _tiny_yolo(tmp_path / "ppe")


def test_small_helmets_warn_at_320_with_the_size_that_clears_it(helmets):
    report = examine(helmets, DoctorConfig(image_size=320))
    sizes = report.object_sizes
    assert sizes is not None and sizes.image_size == (320, 320) and sizes.resize == "letterbox"
    helmet, truck = sizes.classes["helmet"], sizes.classes["truck"]
    # letterbox 640x480 into 320x320: one scale, 0.5; short sides 10, 13, 14, 20 px
    assert helmet.boxes == 4 and helmet.median_photo_px == pytest.approx(27)
    assert helmet.median_input_px == pytest.approx(13.5)
    assert helmet.small_share == 0.75 and truck.small_share == 0.0
    # at most 1 of 4 may stay under 16 px: the 26 px helmet must reach 16, at a scale 16/26 -> 393.8 -> 416
    assert helmet.suggested_size == (416, 416)
    (warning,) = _warned(report)
    assert warning.startswith("helmet: 75% of its 4 boxes") and "median short side 13.5 px" in warning
    assert "image_size=416" in warning
    assert not report.errors  # a warning only: training is not blocked


def test_the_suggested_size_is_the_smallest_that_clears_the_warning(helmets):
    assert _warned(examine(helmets, DoctorConfig(image_size=384)))  # 12, 15.6, 16.8, 24 px: half small
    report = examine(helmets, DoctorConfig(image_size=416))  # 13, 16.9, 18.2, 26 px: a quarter
    assert not _warned(report) and report.object_sizes.classes["helmet"].small_share == 0.25


def test_stretch_scales_each_axis_on_its_own(helmets):
    letterbox = examine(helmets, DoctorConfig(image_size=320)).object_sizes.classes["helmet"]
    report = examine(helmets, DoctorConfig(image_size=320, resize="stretch"))
    stretch = report.object_sizes.classes["helmet"]
    # stretch: x by 0.5, y by 320/480, so the helmets' heights (the short side) shrink less
    assert stretch.median_input_px == pytest.approx(27 * 320 / 480)
    assert stretch.median_input_px > letterbox.median_input_px and stretch.small_share == 0.25
    assert not _warned(report)


def test_tiling_is_suggested_when_the_size_would_be_too_large(helmets):
    (warning,) = _warned(examine(helmets, DoctorConfig(image_size=320, max_image_size=384)))
    assert "above max_image_size=384: cut each photo into 2x2 tiles before training" in warning


def test_the_command_line_prints_and_writes_the_figures(helmets, tmp_path, capsys):
    out = tmp_path / "not yet" / "report.json"  # its folder is made, as for every output
    assert train_main(["doctor", str(helmets), "image_size=320", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "box short side at image_size 320x320 (letterbox)" in text and "WARNING small_objects: 1" in text
    helmet = json.loads(out.read_text())["object_sizes"]["classes"]["helmet"]
    assert helmet["small_share"] == 0.75 and helmet["suggested_size"] == [416, 416]


def test_coco_boxes_are_judged_too(tmp_path):
    root = tmp_path / "coco"
    (root / "images" / "train").mkdir(parents=True)
    (root / "annotations").mkdir()
    photo = np.random.default_rng(1).integers(40, 220, (PHOTO_H, PHOTO_W, 3), dtype=np.uint8)
    cv2.imwrite(str(root / "images" / "train" / "a.jpg"), photo)
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": PHOTO_W, "height": PHOTO_H}],
        "categories": [{"id": 1, "name": "helmet"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 20]}],
    }
    (root / "annotations" / "train.json").write_text(json.dumps(coco))
    report = examine(root, DoctorConfig(image_size=320))
    helmet = report.object_sizes.classes["helmet"]
    assert report.layout == "coco" and helmet.median_photo_px == 20 and helmet.median_input_px == 10
    assert _warned(report)[0].startswith("helmet: 100% of its 1 boxes")
