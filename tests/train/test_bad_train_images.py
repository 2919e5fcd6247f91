"""Training data with bad files: each is skipped, counted and named in a warning; the run goes on."""

from __future__ import annotations

from functools import partial

import cv2
import pytest
import torch
from bad_images import BAD, ODD, picture, write_bad_images, write_odd_images

from edge_runtime.bundle import InputSpec
from train.augment import AugmentConfig
from train.data import KeyedDataset, list_class_folders, load_classified
from train.task import get_task


def test_bad_images_are_skipped_and_named_and_odd_ones_train(tmp_path, caplog):
    pytest.importorskip("PIL", reason="Pillow writes the CMYK JPEG")
    write_bad_images(tmp_path / "train" / "broken")
    write_odd_images(tmp_path / "train" / "odd")
    cv2.imwrite(str(tmp_path / "train" / "broken" / "fine.png"), picture())
    classes, samples = list_class_folders(tmp_path / "train")
    assert classes == ["broken", "odd"] and len(samples) == len(BAD) + len(ODD) + 1
    load = partial(load_classified, InputSpec(size=(32, 32)), AugmentConfig())
    dataset = KeyedDataset(samples, load, augment=False)
    images, labels, skipped = get_task("classify").collate([dataset[i] for i in range(len(dataset))])
    assert skipped == len(BAD) and images.shape == (len(ODD) + 1, 3, 32, 32)
    assert torch.isfinite(images).all() and labels.tolist().count(1) == len(ODD)
    for name in BAD:
        assert name in caplog.text
